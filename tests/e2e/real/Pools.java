// Pools.java - a JVM running thread pools, for tests/e2e/real_runtimes.sh:
// ROUNDS rounds, each a fixed pool of THREADS threads running TASKS tasks
// (hashing, string building, collections), results gathered through
// futures, then the pool shut down so its threads exit: some hundreds of
// threads start and end under memwatchd. A cached pool runs alongside
// for the whole run (threads reused, and ended after their 1 s keep-alive).
// Prints "pools=R tasks=N sum=S" on success.
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.SynchronousQueue;

public class Pools {
	static long work(int seed) throws Exception {
		MessageDigest md = MessageDigest.getInstance("SHA-256");
		StringBuilder sb = new StringBuilder();
		HashMap<Integer, String> m = new HashMap<>();
		for (int i = 0; i < 200; i++) {
			sb.append(seed).append(':').append(i).append(';');
			m.put(i, sb.substring(Math.max(0, sb.length() - 16)));
		}
		byte[] d = md.digest(sb.toString().getBytes("UTF-8"));
		return (d[0] & 0xff) + m.size();
	}

	public static void main(String[] args) throws Exception {
		int rounds = Integer.parseInt(args[0]);
		int threads = Integer.parseInt(args[1]);
		int tasks = Integer.parseInt(args[2]);
		ExecutorService cached = new ThreadPoolExecutor(0, 8, 1,
			TimeUnit.SECONDS, new SynchronousQueue<Runnable>(),
			new ThreadPoolExecutor.CallerRunsPolicy());
		long sum = 0;
		int done = 0;
		long t0 = System.nanoTime();
		for (int r = 0; r < rounds; r++) {
			ExecutorService pool = Executors.newFixedThreadPool(threads);
			List<Future<Long>> fs = new ArrayList<>();
			for (int t = 0; t < tasks; t++) {
				final int seed = r * tasks + t;
				ExecutorService to = (t % 4 == 0) ? cached : pool;
				fs.add(to.submit(() -> work(seed)));
			}
			for (Future<Long> f : fs) {
				sum += f.get();
				done++;
			}
			pool.shutdown();
			if (!pool.awaitTermination(30, TimeUnit.SECONDS))
				throw new RuntimeException("pool did not end");
		}
		cached.shutdown();
		cached.awaitTermination(30, TimeUnit.SECONDS);
		// The rounds' time, for make bench (as tests/workloads/workload.h).
		String ef = System.getenv("MW_ELAPSED_FILE");
		if (ef != null && !ef.isEmpty())
			java.nio.file.Files.writeString(java.nio.file.Path.of(ef),
				(System.nanoTime() - t0) + "\n");
		System.out.println("pools=" + rounds + " tasks=" + done + " sum=" + sum);
	}
}
