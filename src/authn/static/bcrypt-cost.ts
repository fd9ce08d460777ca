/**
 * The bcrypt cost `wharf hash-password` uses unless told otherwise, and the cost of the check an
 * unknown static user pays: the two must be equal, or the time of a failed login tells which
 * usernames exist. 11 is about 150 ms on a 2-core VM.
 */
export const DEFAULT_BCRYPT_COST = 11;
