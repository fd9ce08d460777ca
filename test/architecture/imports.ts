import ts from 'typescript';

/** How a module names another. */
export type ImportKind = 'import' | 'import type' | 'export from' | 'dynamic import()' | 'import() type' | 'require' | 'import = require';

/** One module a source file names, as written. */
export interface ModuleReference {
  readonly specifier: string;
  readonly kind: ImportKind;
  /** 1-based line of the reference. */
  readonly line: number;
}

/** A reference whose target is computed at run time, so no reader can tell which module it is. */
export interface UncheckableReference {
  readonly kind: ImportKind;
  readonly line: number;
  /** The expression as written. */
  readonly text: string;
}

/** What a source file imports, read by the TypeScript parser. */
export interface FileImports {
  readonly references: readonly ModuleReference[];
  readonly uncheckable: readonly UncheckableReference[];
}

const MODULE_PACKAGES = new Set(['module', 'node:module']);

/**
 * Every module a TypeScript source names: static imports (type-only too), `export … from`,
 * `import x = require()`, dynamic `import()` (a template literal without substitutions counts as
 * a literal), `import("…")` in a type, and calls of `require` or of a function made by
 * `createRequire` (`const r = createRequire(...)`, or `createRequire(...)(...)` at once). A
 * specifier that is computed (a template with substitutions, a variable) cannot be checked and is
 * listed as such, never skipped. Parsed, not matched, so quoting and layout do not matter.
 */
export function readImports(fileName: string, text: string): FileImports {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const references: ModuleReference[] = [];
  const uncheckable: UncheckableReference[] = [];
  const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const literal = (node: ts.Node | undefined): string | undefined =>
    node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
  const record = (kind: ImportKind, at: ts.Node, specifier: ts.Node | undefined) => {
    const value = literal(specifier);
    if (value !== undefined) references.push({ specifier: value, kind, line: lineOf(at) });
    else uncheckable.push({ kind, line: lineOf(at), text: (specifier ?? at).getText(source) });
  };

  // Names `createRequire` is bound to (imported under another name too), and names bound to
  // what it returns: calling one of the latter loads a module.
  const createRequireNames = new Set(['createRequire']);
  const requireNames = new Set(['require']);
  const isCreateRequire = (callee: ts.Expression) =>
    (ts.isIdentifier(callee) && createRequireNames.has(callee.text)) || (ts.isPropertyAccessExpression(callee) && callee.name.text === 'createRequire');
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !MODULE_PACKAGES.has(literal(statement.moduleSpecifier) ?? '')) continue;
    const bindings = statement.importClause?.namedBindings;
    if (bindings && ts.isNamedImports(bindings)) {
      for (const element of bindings.elements) if ((element.propertyName ?? element.name).text === 'createRequire') createRequireNames.add(element.name.text);
    }
  }
  const findRequires = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isCallExpression(node.initializer) && isCreateRequire(node.initializer.expression)) {
      requireNames.add(node.name.text);
    }
    ts.forEachChild(node, findRequires);
  };
  findRequires(source);

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      record(node.importClause?.isTypeOnly ? 'import type' : 'import', node, node.moduleSpecifier);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      record('export from', node, node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      record('import = require', node, node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      record('import() type', node, ts.isLiteralTypeNode(argument) ? argument.literal : argument);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) record('dynamic import()', node, node.arguments[0]);
      else if (ts.isIdentifier(callee) && requireNames.has(callee.text)) record('require', node, node.arguments[0]);
      else if (ts.isCallExpression(callee) && isCreateRequire(callee.expression)) record('require', node, node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { references, uncheckable };
}
