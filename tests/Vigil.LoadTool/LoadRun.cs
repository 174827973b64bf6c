using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Vigil.Perf;

namespace Vigil.LoadTool;

/// <summary>
/// Pre-encodes one request per slice of the series space and gives each worker its own requests, so
/// no two requests for a series are ever in flight together and every cumulative counter sees
/// strictly later times and larger values. A worker re-stamps its request (time now, next value) and
/// sends it, then moves to its next one.
/// </summary>
internal sealed class LoadRun(LoadOptions options)
{
    private readonly ConcurrentDictionary<string, long> _errors = new(StringComparer.Ordinal);

    public async Task<int> RunAsync(ISender sender, SpawnedCollector? collector, CancellationToken cancellationToken)
    {
        var runStart = DateTimeOffset.UtcNow;
        var startNanos = ToUnixNano(runStart);
        var factory = new OtlpRequestFactory(options.Metrics);
        var requests = new List<EncodedRequest>();
        var encodeTimer = Stopwatch.StartNew();
        for (var first = 0; first < options.Series; first += options.PointsPerRequest)
        {
            requests.Add(factory.Build(first, Math.Min(options.PointsPerRequest, options.Series - first), startNanos));
        }

        var bytes = requests.Sum(r => (long)r.Bytes.Length);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"encoded {requests.Count} requests ({bytes / (double)requests.Count / 1024:N1} KiB, {options.PointsPerRequest} points each; {bytes / (double)(requests.Count * (long)options.PointsPerRequest):N0} B/point) in {encodeTimer.ElapsedMilliseconds} ms"));
        Console.WriteLine($"target {options.Target} {(options.Target == Target.Grpc ? collector?.Grpc ?? options.Endpoint : collector?.Http ?? options.Endpoint)}, concurrency {options.Concurrency}, warmup {options.Warmup.TotalSeconds}s, duration {options.Duration.TotalSeconds}s, series {options.Series}, metrics {options.Metrics}");

        var clock = Stopwatch.StartNew();
        var measureFrom = options.Warmup;
        var measureTo = options.Warmup + options.Duration;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(measureTo + TimeSpan.FromSeconds(1));
        long sent = 0;
        var workers = new Worker[options.Concurrency];
        for (var w = 0; w < workers.Length; w++)
        {
            var own = new List<EncodedRequest>();
            for (var i = w; i < requests.Count; i += workers.Length)
            {
                own.Add(requests[i]);
            }

            workers[w] = new Worker(own);
        }

        var serverCpuBefore = TimeSpan.Zero;
        var clientCpuBefore = TimeSpan.Zero;
        var measuring = 0;
        var tasks = workers.Select(worker => Task.Run(async () =>
        {
            var lastTime = 0UL;
            while (!stop.IsCancellationRequested)
            {
                if (clock.Elapsed >= measureTo || Interlocked.Increment(ref sent) > options.MaxRequests)
                {
                    return;
                }

                if (clock.Elapsed >= measureFrom && Interlocked.Exchange(ref measuring, 1) == 0)
                {
                    serverCpuBefore = collector?.CpuTime ?? TimeSpan.Zero;
                    clientCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                }

                var request = worker.Next(out var round);
                lastTime = Math.Max(lastTime + 1, ToUnixNano(DateTimeOffset.UtcNow));
                request.Stamp(lastTime, round);
                var started = Stopwatch.GetTimestamp();
                SendResult result;
                try
                {
                    result = await sender.SendAsync(request.Bytes, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }

                var finished = clock.Elapsed;
                if (finished < measureFrom || finished > measureTo)
                {
                    continue;
                }

                worker.Record(Stopwatch.GetElapsedTime(started), request.Points, result);
                if (!result.Ok)
                {
                    _errors.AddOrUpdate(result.Status!, 1, (_, n) => n + 1);
                }
            }
        }, CancellationToken.None)).ToArray();
        await Task.WhenAll(tasks);
        var elapsed = Math.Min(clock.Elapsed.TotalSeconds, measureTo.TotalSeconds) - measureFrom.TotalSeconds;
        var serverCpu = (collector?.CpuTime ?? TimeSpan.Zero) - serverCpuBefore;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime - clientCpuBefore;

        return Report(workers, elapsed, serverCpu, clientCpu, collector);
    }

    private int Report(Worker[] workers, double seconds, TimeSpan serverCpu, TimeSpan clientCpu, SpawnedCollector? collector)
    {
        var latencies = workers.SelectMany(w => w.Latencies).ToArray();
        Array.Sort(latencies);
        long ok = 0, failed = 0, accepted = 0, rejected = 0;
        foreach (var worker in workers)
        {
            ok += worker.Ok;
            failed += worker.Failed;
            accepted += worker.Accepted;
            rejected += worker.Rejected;
        }

        string Line(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
        Console.WriteLine();
        Console.WriteLine(Line($"measured        {seconds:N1} s"));
        Console.WriteLine(Line($"requests        {ok + failed:N0} ({(ok + failed) / seconds:N0}/s), ok {ok:N0}, failed {failed:N0}"));
        Console.WriteLine(Line($"points accepted {accepted:N0} ({accepted / seconds:N0}/s); refused in partial_success {rejected:N0}"));
        Console.WriteLine(Line($"latency         p50 {Percentile(latencies, 0.50):N2} ms, p99 {Percentile(latencies, 0.99):N2} ms, max {(latencies.Length == 0 ? 0 : latencies[^1]):N2} ms"));
        foreach (var (status, count) in _errors.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            Console.WriteLine(Line($"errors          {status}: {count:N0}"));
        }

        Console.WriteLine(Line($"client cpu      {clientCpu.TotalSeconds:N1} s ({clientCpu.TotalSeconds / seconds:N2} cores)"));
        if (collector is not null)
        {
            Console.WriteLine(Line($"collector cpu   {serverCpu.TotalSeconds:N1} s ({serverCpu.TotalSeconds / seconds:N2} cores; {(accepted == 0 ? 0 : serverCpu.TotalMilliseconds * 1000 / accepted):N2} µs per accepted point)"));
            Console.WriteLine(Line($"collector rss   {collector.WorkingSet / (1024.0 * 1024):N0} MiB now, {collector.PeakWorkingSet / (1024.0 * 1024):N0} MiB peak"));
        }

        return failed == 0 && accepted > 0 ? 0 : 1;
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static ulong ToUnixNano(DateTimeOffset time) => (ulong)(time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100UL;

    private sealed class Worker(List<EncodedRequest> requests)
    {
        private int _next;
        private long _round;

        public List<double> Latencies { get; } = [];

        public long Ok { get; private set; }

        public long Failed { get; private set; }

        public long Accepted { get; private set; }

        public long Rejected { get; private set; }

        /// <summary>The worker's next request; a new round starts once all of them were sent.</summary>
        public EncodedRequest Next(out long round)
        {
            if (_next == requests.Count)
            {
                _next = 0;
                _round++;
            }

            round = _round;
            return requests[_next++];
        }

        public void Record(TimeSpan latency, int points, SendResult result)
        {
            Latencies.Add(latency.TotalMilliseconds);
            if (result.Ok)
            {
                Ok++;
                Accepted += points - result.Rejected;
                Rejected += result.Rejected;
            }
            else
            {
                Failed++;
            }
        }
    }
}
