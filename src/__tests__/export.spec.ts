import { exportFileName, toCsv, toJsonReport } from '../export';
import { sampleRecord } from './fixtures';

describe('exports', () => {
  it('writes a versioned JSON report with the records', () => {
    const text = toJsonReport(
      [sampleRecord({ seq: 1 })],
      { python: '3.11.7', pid: 1 },
      new Date('2026-11-23T00:00:00Z')
    );
    const report = JSON.parse(text);
    expect(report.format).toBe('memtrack-report');
    expect(report.version).toBe(1);
    expect(report.created).toBe('2026-11-23T00:00:00.000Z');
    expect(report.python).toBe('3.11.7');
    expect(report.cells[0].traced_delta).toBe(50000000);
  });

  it('writes CSV with a header, integer bytes and quoted text', () => {
    const csv = toCsv([
      sampleRecord({ seq: 1, label: 'say "hi", then go', traced_delta: -5 }),
      sampleRecord({ seq: 2, label: '=HYPERLINK("x")', cell_id: null }),
      sampleRecord({
        seq: 3,
        cluster: {
          scheduler: 'tcp://127.0.0.1:8786',
          status: 'measured',
          rss_before: 100,
          rss_after: 500,
          rss_peak: 600,
          managed_before: 0,
          managed_after: 400
        }
      })
    ]);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(
      'seq,execution_count,cell_id,label,mode,started_at,duration_s,rss_before,rss_after,rss_peak,traced_delta,traced_peak,error,leaks,alloc_delta,alloc_method,' +
        'cluster.rss_before,cluster.rss_after,cluster.rss_peak,cluster.managed_before,cluster.managed_after'
    );
    expect(lines[1]).toContain(',"say ""hi"", then go",');
    expect(lines[1]).toContain(',-5,');
    // A record without allocated or cluster figures leaves their columns empty.
    expect(lines[1].endsWith(',0,,,,,,,')).toBe(true);
    // The cluster's totals, as integers.
    expect(lines[3].endsWith(',100,500,600,0,400')).toBe(true);
    // A formula-looking label is defused for spreadsheets.
    expect(lines[2]).toContain(`,"'=HYPERLINK(""x"")",`);
    expect(lines[4]).toBe('');
  });

  it('names the file after the notebook', () => {
    expect(exportFileName('work/analysis.ipynb', 'csv')).toBe('analysis.memtrack.csv');
    expect(exportFileName('', 'json')).toBe('notebook.memtrack.json');
  });
});
