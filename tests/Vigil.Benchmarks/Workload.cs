using Microsoft.Extensions.Time.Testing;
using Vigil.Perf;
using Vigil.Storage;

namespace Vigil.Benchmarks;

/// <summary>
/// The benchmark request: 1 resource, 20 cumulative counters x 50 points, 4-6 attributes a point; the
/// small one (<see cref="SmallPointsPerRequest"/>) is the same shape with 5 points a metric.
/// </summary>
internal static class Workload
{
    public const int Metrics = 20;
    public const int PointsPerMetric = 50;
    public const int PointsPerRequest = Metrics * PointsPerMetric;
    public const int SmallPointsPerRequest = 100;

    /// <summary>A fixed clock: 2025-06-01T12:00:00Z.</summary>
    public static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public static ulong NowUnixNano => WindowStore.ToUnixNano(Now);

    public static FakeTimeProvider Clock() => new(Now);

    public static EncodedRequest Request(int points = PointsPerRequest)
    {
        var request = new OtlpRequestFactory(Metrics).Build(0, points, NowUnixNano - (3600UL * 1_000_000_000UL));
        request.Stamp(NowUnixNano - 60_000_000_000UL, 0);
        return request;
    }
}
