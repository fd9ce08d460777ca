/**
 * The error body every endpoint answers with: the distribution shape (`errors[]`, what docker
 * and skopeo print) plus the OAuth 2.0 fields (`error`, `error_description`) for OAuth clients.
 */
export interface ErrorBody {
  errors: Array<{ code: string; message: string }>;
  error: string;
  error_description: string;
}

export function errorBody(code: string, registryCode: string, message: string): ErrorBody {
  return { errors: [{ code: registryCode, message }], error: code, error_description: message };
}
