import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Whether an executable `command` is in one of the directories of `pathEnv` (a PATH value). */
export function onPath(command: string, pathEnv: string | undefined): boolean {
  return (pathEnv ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
