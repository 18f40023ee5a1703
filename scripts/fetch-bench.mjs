// `just bench`'s Node scenario: GET URL with Node's global fetch (undici), as a front end
// does, from CONNECTIONS loops at once for SECONDS. Each loop waits for its response and
// reads the whole body (fetch decompresses gzip) before the next request; undici keeps
// one keep-alive connection per loop. Prints "p50_ms p99_ms req_per_s", as bench.sh's wrk_run.
//
//   node scripts/fetch-bench.mjs URL TOKEN|PULL_KEY CONNECTIONS SECONDS
const [url, token, connections, seconds] = process.argv.slice(2);
if (!url || !token || !connections || !seconds) {
  console.error("usage: fetch-bench.mjs URL TOKEN CONNECTIONS SECONDS");
  process.exit(2);
}
// A pull key (pk_…) goes in X-API-Key; anything else is a bearer token.
const headers = token.startsWith("pk_") ? { "X-API-Key": token } : { Authorization: `Bearer ${token}` };
const latencies = [];
const failures = new Map();

async function loop(until, record) {
  while (performance.now() < until) {
    const started = performance.now();
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (record) {
      latencies.push(performance.now() - started);
      if (res.status !== 200) failures.set(res.status, (failures.get(res.status) ?? 0) + 1);
    }
  }
}

const n = Number(connections);
// Half a second of warm-up: connections opened, the JIT warm, nothing recorded.
await Promise.all(Array.from({ length: n }, () => loop(performance.now() + 500, false)));
const start = performance.now();
await Promise.all(Array.from({ length: n }, () => loop(start + Number(seconds) * 1000, true)));
const elapsed = (performance.now() - start) / 1000;
if (failures.size > 0) {
  console.error(`ERROR non-200 statuses: ${JSON.stringify(Object.fromEntries(failures))}`);
  process.exit(1);
}
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(`${at(0.5).toFixed(3)} ${at(0.99).toFixed(3)} ${(latencies.length / elapsed).toFixed(0)}`);
