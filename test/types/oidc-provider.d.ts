// The oidc-provider package ships no types; the tests use this much of it.
declare module 'oidc-provider' {
  import type { Server } from 'node:http';

  interface Account {
    accountId: string;
    /** `use` is `id_token` or `userinfo`. */
    claims(use: string): Promise<Record<string, unknown>>;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown> & { findAccount?: (ctx: unknown, id: string) => Promise<Account | undefined> });
    listen(port: number, host?: string): Server;
    callback(): (req: unknown, res: unknown) => void;
    // The rest of its API (Client, IdToken, ...) is used untyped.
    [member: string]: any;
  }
}
