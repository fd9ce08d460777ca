import { posix } from 'node:path';
import ts from 'typescript';
import type { SourceFile } from './floors.js';

/** A shared contract suite: the function that runs it, and the module (path from the checkout's root) that exports it. */
export interface Contract {
  readonly module: string;
  readonly name: string;
}

/** One run of a contract: a top-level call in a test file, naming the backend type it runs against. */
export interface ContractRun {
  readonly file: string;
  readonly line: number;
  readonly type: string;
}

/** The runs of a contract found in test files, and the calls that cannot be read as one. */
export interface ContractRuns {
  readonly runs: readonly ContractRun[];
  /** Calls of the contract that may or may not run, or whose type is computed: each fails the check. */
  readonly uncheckable: readonly string[];
}

/**
 * Finds where test files (paths from the checkout's root) run `contract`: a call, as a top-level
 * statement of a `*.test.ts` file, of the contract function imported from its module (under any
 * local name), whose first argument is the backend type as a literal. A call inside a function,
 * a loop or a condition may never run, and a computed type cannot be read: both are reported as
 * uncheckable rather than counted.
 */
export function findContractRuns(files: readonly SourceFile[], contract: Contract): ContractRuns {
  const runs: ContractRun[] = [];
  const uncheckable: string[] = [];
  for (const file of files) {
    // Importing the contract names it, under whatever local name: a file without the name has no run.
    if (!file.text.includes(contract.name)) continue;
    const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const local = localNameOf(source, file.path, contract);
    if (local === undefined) continue;
    const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const topLevel = new Set(
      source.statements.flatMap((s) => (ts.isExpressionStatement(s) && ts.isCallExpression(s.expression) ? [s.expression] : [])),
    );
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === local) {
        const where = `${file.path}:${lineOf(node)}`;
        const type = node.arguments[0];
        if (!file.path.endsWith('.test.ts')) uncheckable.push(`${where}: ${contract.name} is called outside a test file, which nothing runs`);
        else if (!topLevel.has(node)) uncheckable.push(`${where}: ${contract.name} is not called as a top-level statement: cannot tell that it runs`);
        else if (!type || !(ts.isStringLiteral(type) || ts.isNoSubstitutionTemplateLiteral(type))) uncheckable.push(`${where}: cannot check which type ${contract.name} runs against: it is computed`);
        else runs.push({ file: file.path, line: lineOf(node), type: type.text });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { runs, uncheckable };
}

/** The name a file imports the contract function under, if it does. */
function localNameOf(source: ts.SourceFile, path: string, contract: Contract): string | undefined {
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const target = posix.normalize(posix.join(posix.dirname(path), statement.moduleSpecifier.text)).replace(/\.js$/, '.ts');
    const bindings = statement.importClause?.namedBindings;
    if (target !== contract.module || !bindings || !ts.isNamedImports(bindings)) continue;
    const element = bindings.elements.find((e) => (e.propertyName ?? e.name).text === contract.name);
    if (element) return element.name.text;
  }
  return undefined;
}

/** The registered types no run covers, each with what to do about it. */
export function uncoveredTypes(registry: string, types: readonly string[], contract: Contract, runs: readonly ContractRun[]): string[] {
  const covered = new Set(runs.map((r) => r.type));
  return types
    .filter((type) => !covered.has(type))
    .map((type) => `${registry} registers ${JSON.stringify(type)}, which no test runs through ${contract.name} (${contract.module})`);
}
