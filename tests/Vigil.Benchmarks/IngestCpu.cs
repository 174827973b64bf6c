using System.Diagnostics;
using System.Globalization;

namespace Vigil.Benchmarks;

/// <summary>
/// `-- cpu`: the IngestBenchmarks lanes timed by this process's CPU time rather than by the wall clock,
/// which on a shared, overloaded machine measures the queue for a core more than the code. Prints CPU
/// and bytes allocated per point for 1,000-point and 100-point requests into a warm store.
/// </summary>
internal static class IngestCpu
{
    private const int PointsPerRound = 2_000_000;

    public static int Run(int rounds)
    {
        Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
        foreach (var points in new[] { Workload.PointsPerRequest, Workload.SmallPointsPerRequest })
        {
            var lane = new IngestBenchmarks.Lane(points);
            for (var i = 0; i < 20_000 / points * 10; i++)
            {
                lane.Next(advanceClock: false); // warm: JIT tiers, pools, every series exists
            }

            var best = double.MaxValue;
            long allocated = 0;
            for (var round = 0; round < rounds; round++)
            {
                var requests = PointsPerRound / points;
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var bytes = GC.GetAllocatedBytesForCurrentThread();
                for (var i = 0; i < requests; i++)
                {
                    lane.Next(advanceClock: false);
                }

                allocated = GC.GetAllocatedBytesForCurrentThread() - bytes;
                var perPoint = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds * 1000 / PointsPerRound;
                best = Math.Min(best, perPoint);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{points,5}-point requests: best of {rounds} rounds of {PointsPerRound:N0} points: {best:F0} ns CPU per point, {(double)allocated / PointsPerRound:F3} B allocated per point"));
        }

        Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }
}
