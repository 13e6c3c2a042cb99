/**
 * $(( )) arithmetic, the integer subset scripts use: + - * / %, comparisons, parentheses, variables.
 * Anything else throws, and the script is reported as not followed past that point.
 */
export function arithmetic(expr: string, lookup: (name: string) => string | undefined): number {
  if (expr.trim() === "") return 0;
  const tokens = expr.match(/\d+|[A-Za-z_][A-Za-z0-9_]*|<=|>=|==|!=|[-+*/%()<>]|\S/g) ?? [];
  let i = 0;
  const value = (): number => {
    const t = tokens[i++];
    if (t === "(") {
      const v = comparison();
      if (tokens[i++] !== ")") throw new Error("arithmetic: missing ')'");
      return v;
    }
    if (t === "-") return -value();
    if (t === "+") return value();
    if (t !== undefined && /^\d+$/.test(t)) return Number(t);
    if (t !== undefined && /^[A-Za-z_]/.test(t)) return Number.parseInt(lookup(t) ?? "0", 10) || 0;
    throw new Error(`arithmetic: unexpected '${t ?? "end"}'`);
  };
  const binary = (next: () => number, ops: string[], apply: (op: string, a: number, b: number) => number) => {
    let v = next();
    while (ops.includes(tokens[i] ?? "")) {
      const op = tokens[i++];
      v = apply(op, v, next());
    }
    return v;
  };
  const product = () =>
    binary(value, ["*", "/", "%"], (op, a, b) => {
      if (op !== "*" && b === 0) throw new Error("arithmetic: division by zero");
      return op === "*" ? a * b : op === "/" ? Math.trunc(a / b) : a % b;
    });
  const sum = () => binary(product, ["+", "-"], (op, a, b) => (op === "+" ? a + b : a - b));
  const comparison = (): number =>
    binary(sum, ["<", ">", "<=", ">=", "==", "!="], (op, a, b) => {
      const r = { "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "==": a === b, "!=": a !== b }[op];
      return r ? 1 : 0;
    });
  const result = comparison();
  if (i !== tokens.length) throw new Error(`arithmetic: unexpected '${tokens[i]}'`);
  return result;
}
