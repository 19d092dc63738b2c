// A section of BENCHMARKS.md being written: lines, and tables whose first column is text and
// the others numbers (right-aligned). Shared by the report's sections.

/** @returns {{L: string[], p: (s?: string) => void, table: (head: string[], rows: string[][]) => void}} */
export function mdWriter() {
  const L = [];
  const p = (s = '') => L.push(s);
  const table = (head, rows) => {
    p(`| ${head.join(' | ')} |`);
    p(`| ${head.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
    for (const r of rows) p(`| ${r.join(' | ')} |`);
    p();
  };
  return { L, p, table };
}
