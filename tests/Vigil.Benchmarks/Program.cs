using BenchmarkDotNet.Running;
using Vigil.Benchmarks;

// `-- memory [series]` measures bytes per counter series; `-- walsize [requests] [in-flight]` the WAL's
// bytes per point and the codec candidates (decision 030); anything else goes to BenchmarkDotNet
// (e.g. `-- --filter '*'`).
if (args.Length > 0 && args[0] == "memory")
{
    var series = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
    return SeriesMemory.Run(series);
}

if (args.Length > 0 && args[0] == "walsize")
{
    var requests = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2_000;
    var inFlight = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 8;
    return WalSize.Run(requests, inFlight);
}

BenchmarkSwitcher.FromAssembly(typeof(IngestBenchmarks).Assembly).Run(args);
return 0;
