/** Markup that is already safe; interpolations of anything else are escaped. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escape(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(escape).join('');
  if (value === undefined || value === null || value === false) return '';
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Tagged template that escapes every interpolated value (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => (out += escape(v) + strings[i + 1]!));
  return new SafeHtml(out);
}

/** The page frame: plain, accessible HTML that works without JavaScript. */
export function page(title: string, body: SafeHtml, options: { account?: string; csrf?: string } = {}): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Wharf</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #d0d7de;margin-bottom:1.5rem}
code,pre{font-family:ui-monospace,monospace;background:#f6f8fa;border-radius:4px}
pre{padding:.75rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #d0d7de}
button,.button{font:inherit;padding:.4rem .9rem;border:1px solid #1f6feb;border-radius:6px;background:#1f6feb;color:#fff;text-decoration:none;cursor:pointer;display:inline-block}
button.secondary{background:#fff;color:#1f6feb}
.notice{border-left:4px solid #1f6feb;padding:.5rem 1rem;background:#f0f6ff}
.error{border-left:4px solid #cf222e;padding:.5rem 1rem;background:#fff0f0}
.badge{border:1px solid #9a6700;border-radius:1rem;padding:0 .5rem;color:#7d4e00;background:#fff8c5;white-space:nowrap}
fieldset{border:1px solid #d0d7de;margin:.75rem 0}fieldset label{margin:.2rem 0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
label{display:block;margin:.5rem 0 .2rem}input{font:inherit;padding:.3rem}
</style>
</head>
<body>
<header><p><strong>Wharf</strong> registry access</p>${
    options.account
      ? html`<form method="post" action="/logout"><input type="hidden" name="csrf" value="${options.csrf}"><span>Signed in as <strong>${options.account}</strong></span> <button class="secondary" type="submit">Sign out</button></form>`
      : ''
  }</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>`.value;
}
