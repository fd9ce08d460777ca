// The subcommands' outside world is the client's (client/ may not import cli/, so it owns it);
// re-exported so every subcommand and main.ts keep importing it from beside them.
export { type CliIo, processIo } from '../client/io.js';
