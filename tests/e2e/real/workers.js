// tests/e2e/real/workers.js - a worker_threads workload for
// tests/e2e/real_runtimes.sh: ROUNDS rounds of a pool of WORKERS
// worker_threads Workers, each given JOBS jobs of real work (hashing with
// node:crypto, JSON round trips, sorting, zlib) over postMessage, then
// terminated; the next round starts a new pool, so that threads churn as
// a pool that is resized would make them. Every result is checked.
// Prints "workers=N jobs=N" and exits 0 only if every job came back right;
// with MW_ELAPSED_FILE set, writes the rounds' time there in ns.
//
// usage: node workers.js [ROUNDS [WORKERS [JOBS]]]
'use strict';

const { Worker, isMainThread, parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const zlib = require('node:zlib');

// One job: the same work in the worker and, to check it, in the caller.
function job(n) {
	const h = crypto.createHash('sha256');
	let data = '';
	for (let i = 0; i < 200; i++) {
		data += `${n}:${i};`.repeat(8);
		h.update(data.slice(-64));
	}
	const doc = {
		job: n,
		items: Array.from({ length: 300 }, (_, i) => ({ i, s: String(i).repeat(i % 7 + 1) })),
	};
	const back = JSON.parse(JSON.stringify(doc));
	const xs = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 10007).sort((a, b) => a - b);
	const packed = zlib.gunzipSync(zlib.gzipSync(Buffer.from(data))).length;
	return `${h.digest('hex')}:${back.items.length}:${xs[2500]}:${packed}`;
}

if (!isMainThread) {
	parentPort.on('message', (n) => parentPort.postMessage({ n, r: job(n) }));
	return;
}

const rounds = Number(process.argv[2] || 6);
const nworkers = Number(process.argv[3] || 4);
const njobs = Number(process.argv[4] || 20);
let workers = 0;
let done = 0;

function round(k) {
	return new Promise((resolve, reject) => {
		let left = njobs;
		const pool = [];
		for (let w = 0; w < nworkers; w++) {
			const wk = new Worker(__filename);
			workers++;
			wk.on('error', reject);
			wk.on('message', ({ n, r }) => {
				if (r !== job(n))
					return reject(new Error(`job ${n}: wrong result`));
				done++;
				if (--left === 0)
					Promise.all(pool.map((p) => p.terminate())).then(resolve, reject);
			});
			pool.push(wk);
		}
		for (let j = 0; j < njobs; j++)
			pool[j % nworkers].postMessage(k * njobs + j);
	});
}

(async () => {
	const t0 = process.hrtime.bigint();
	for (let k = 0; k < rounds; k++)
		await round(k);
	// The rounds' time, for make bench (as tests/workloads/workload.h).
	if (process.env.MW_ELAPSED_FILE)
		require('node:fs').writeFileSync(process.env.MW_ELAPSED_FILE,
			`${process.hrtime.bigint() - t0}\n`);
	console.log(`workers=${workers} jobs=${done}`);
	process.exitCode = done === rounds * njobs ? 0 : 1;
})().catch((e) => {
	console.error(String(e));
	process.exitCode = 1;
});
