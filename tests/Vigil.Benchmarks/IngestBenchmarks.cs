using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Time.Testing;
using Vigil.Perf;
using Vigil.Storage;

namespace Vigil.Benchmarks;

/// <summary>
/// OtlpIngest.Ingest of the benchmark request into a warm store (all 1,000 series exist): validation
/// pass, decode, series lookup and bucket update. Each invocation re-stamps the request with a later
/// time and higher cumulative values, so every point is a real increase, not a skipped repeat.
/// Results are per point.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 5)]
public class IngestBenchmarks
{
    private const ulong Second = 1_000_000_000UL;

    private Lane _sameBucket = null!;
    private Lane _smallRequests = null!;
    private Lane _steadyState = null!;

    [GlobalSetup]
    public void Setup()
    {
        _sameBucket = new Lane(Workload.PointsPerRequest);
        _sameBucket.Next(advanceClock: false);
        _sameBucket.Next(advanceClock: false);
        _smallRequests = new Lane(Workload.SmallPointsPerRequest);
        _smallRequests.Next(advanceClock: false);
        _smallRequests.Next(advanceClock: false);

        // One hour of 10 s exports first, so every series holds a full retention of buckets.
        _steadyState = new Lane(Workload.PointsPerRequest);
        for (var i = 0; i < 360; i++)
        {
            _steadyState.Next(advanceClock: true);
        }
    }

    /// <summary>Points 1 µs apart: every point lands in the series' newest bucket (the cheapest update).</summary>
    [Benchmark(OperationsPerInvoke = Workload.PointsPerRequest, Description = "Ingest, warm store, same bucket (per point)")]
    public int IngestSameBucket() => _sameBucket.Next(advanceClock: false);

    /// <summary>As <see cref="IngestSameBucket"/> with 100-point requests: what each request pays beside its points.</summary>
    [Benchmark(OperationsPerInvoke = Workload.SmallPointsPerRequest, Description = "Ingest 100-point requests, warm store, same bucket (per point)")]
    public int IngestSameBucketSmallRequests() => _smallRequests.Next(advanceClock: false);

    /// <summary>
    /// A 10 s export interval at steady state: the clock moves one bucket per request, every point opens
    /// a new bucket, and Sweep (which the collector runs once per resolution) trims the oldest one.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Workload.PointsPerRequest, Description = "Ingest + Sweep, 10 s exports, 1 h retention full (per point)")]
    public int IngestNewBucketWithSweep() => _steadyState.Next(advanceClock: true);

    /// <summary>The re-stamping alone, to subtract from the ingest numbers.</summary>
    [Benchmark(OperationsPerInvoke = Workload.PointsPerRequest, Description = "Stamp request only (per point)")]
    public long StampOnly() => _sameBucket.StampOnly();

    internal sealed class Lane
    {
        private readonly FakeTimeProvider _clock = Workload.Clock();
        private readonly OtlpIngest _ingest;
        private readonly EncodedRequest _request;
        private readonly int _points;
        private long _round;

        public Lane(int points)
        {
            _points = points;
            _request = Workload.Request(points);
            _ingest = new OtlpIngest(new WindowStore(new WindowStoreOptions(), _clock));
        }

        public int Next(bool advanceClock)
        {
            _round++;
            ulong time;
            if (advanceClock)
            {
                _clock.Advance(TimeSpan.FromSeconds(10));
                time = WindowStore.ToUnixNano(_clock.GetUtcNow()) - Second;
            }
            else
            {
                // 1 µs per round: a whole benchmark run stays inside one or two buckets of the fixed clock.
                time = Workload.NowUnixNano - (60 * Second) + ((ulong)_round * 1_000UL);
            }

            _request.Stamp(time, _round);
            var result = _ingest.Ingest(_request.Bytes);
            if (advanceClock)
            {
                _ingest.Store.Sweep();
            }

            if (result.Rejected != 0 || result.Accepted != _points || _ingest.Store.SeriesCount != _points)
            {
                throw new InvalidOperationException($"accepted {result.Accepted}, rejected {result.Rejected}, series {_ingest.Store.SeriesCount}: {result.ErrorMessage}");
            }

            return result.Accepted;
        }

        public long StampOnly()
        {
            _round++;
            _request.Stamp(Workload.NowUnixNano - (60 * Second) + ((ulong)_round * 1_000UL), _round);
            return _round;
        }
    }
}
