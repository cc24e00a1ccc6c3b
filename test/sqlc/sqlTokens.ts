// A PostgreSQL lexer just precise enough for the sqlc emulator: it finds statements, clauses,
// named parameters and select items the way PostgreSQL's own lexer (which sqlc uses through
// pg_query) splits them. Strings, comments, dollar quotes and quoted names stay opaque.

export type TokenKind =
  | "space"
  | "comment"
  | "string"
  | "ident"
  | "quotedIdent"
  | "number"
  | "positionalParam"
  | "op"
  | "punct";

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** Offset of the first character in the lexed text. */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
}

const OPERATOR_CHARS = "+-*/<>=~!@#%^&|`?";
// An operator may end in + or - only if it contains one of these (PostgreSQL's lexer rule).
const OPERATOR_SPECIAL = "~!@#%^&|`?";

function isIdentStart(c: string): boolean {
  return /[A-Za-z_\u0080-\uffff]/.test(c);
}

function isIdentPart(c: string): boolean {
  return /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

export class SqlSyntaxError extends Error {}

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, end: number) => {
    tokens.push({ kind, text: sql.slice(i, end), start: i, end });
    i = end;
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1] ?? "";
    if (/\s/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /\s/.test(sql[j] as string)) j++;
      push("space", j);
    } else if (c === "-" && next === "-") {
      const nl = sql.indexOf("\n", i);
      push("comment", nl === -1 ? sql.length : nl);
    } else if (c === "/" && next === "*") {
      push("comment", blockCommentEnd(sql, i));
    } else if (c === "'") {
      push("string", quotedEnd(sql, i, "'", false));
    } else if ((c === "E" || c === "e") && next === "'") {
      push("string", quotedEnd(sql, i + 1, "'", true));
    } else if (/[BbXxNn]/.test(c) && next === "'") {
      push("string", quotedEnd(sql, i + 1, "'", false));
    } else if (c === '"') {
      push("quotedIdent", quotedEnd(sql, i, '"', false));
    } else if (c === "$" && /[0-9]/.test(next)) {
      let j = i + 1;
      while (j < sql.length && /[0-9]/.test(sql[j] as string)) j++;
      push("positionalParam", j);
    } else if (c === "$") {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (!tag) throw new SqlSyntaxError(`unexpected "$" at offset ${i}`);
      const close = sql.indexOf(tag[0], i + tag[0].length);
      if (close === -1) throw new SqlSyntaxError(`unterminated dollar quote ${tag[0]}`);
      push("string", close + tag[0].length);
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < sql.length && isIdentPart(sql[j] as string)) j++;
      push("ident", j);
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(next))) {
      const m = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(sql.slice(i));
      push("number", i + (m?.[0].length ?? 1));
    } else if (c === ":" && next === ":") {
      push("punct", i + 2);
    } else if ("()[],;.:".includes(c)) {
      push("punct", i + 1);
    } else if (OPERATOR_CHARS.includes(c)) {
      push("op", operatorEnd(sql, i));
    } else {
      throw new SqlSyntaxError(`unexpected character ${JSON.stringify(c)} at offset ${i}`);
    }
  }
  return tokens;
}

function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let j = start;
  while (j < sql.length) {
    if (sql.startsWith("/*", j)) {
      depth++;
      j += 2;
    } else if (sql.startsWith("*/", j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  throw new SqlSyntaxError("unterminated /* comment");
}

function quotedEnd(sql: string, open: number, quote: string, backslashEscapes: boolean): number {
  let j = open + 1;
  while (j < sql.length) {
    const ch = sql[j];
    if (backslashEscapes && ch === "\\") {
      j += 2;
    } else if (ch === quote) {
      if (sql[j + 1] === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  throw new SqlSyntaxError(`unterminated ${quote} quote`);
}

function operatorEnd(sql: string, start: number): number {
  let j = start;
  while (j < sql.length && OPERATOR_CHARS.includes(sql[j] as string)) {
    if (j > start && (sql.startsWith("--", j) || sql.startsWith("/*", j))) break;
    j++;
  }
  let text = sql.slice(start, j);
  if (text.length > 1 && ![...text].some((ch) => OPERATOR_SPECIAL.includes(ch))) {
    while (text.length > 1 && (text.endsWith("+") || text.endsWith("-"))) text = text.slice(0, -1);
  }
  return start + text.length;
}

/** Tokens that carry meaning: no whitespace, no comments. */
export function significant(tokens: readonly Token[]): Token[] {
  return tokens.filter((t) => t.kind !== "space" && t.kind !== "comment");
}

/** Upper-cased text of an unquoted identifier or keyword, "" otherwise. */
export function keyword(token: Token | undefined): string {
  return token?.kind === "ident" ? token.text.toUpperCase() : "";
}

/** The unquoted name an identifier token denotes (PostgreSQL folds unquoted names to lower case). */
export function identName(token: Token): string {
  if (token.kind === "quotedIdent") return token.text.slice(1, -1).replaceAll('""', '"');
  return token.text.toLowerCase();
}

/** For each "(" or "[" in `tokens`, the index of its partner, and the reverse. */
export function matchBrackets(tokens: readonly Token[]): Map<number, number> {
  const partner = new Map<number, number>();
  const stack: number[] = [];
  tokens.forEach((t, i) => {
    if (t.kind !== "punct") return;
    if (t.text === "(" || t.text === "[") stack.push(i);
    else if (t.text === ")" || t.text === "]") {
      const open = stack.pop();
      if (open === undefined)
        throw new SqlSyntaxError(`unbalanced "${t.text}" at offset ${t.start}`);
      partner.set(open, i);
      partner.set(i, open);
    }
  });
  if (stack.length > 0) throw new SqlSyntaxError("unbalanced parentheses");
  return partner;
}
