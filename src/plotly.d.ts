// plotly.js ships types for its full bundle only; the partial entry points
// used by plot.ts expose the same API (core) or a trace module (bar).
declare module 'plotly.js/lib/core' {
  import Plotly from 'plotly.js';
  export default Plotly;
}

declare module 'plotly.js/lib/bar' {
  const bar: unknown;
  export default bar;
}
