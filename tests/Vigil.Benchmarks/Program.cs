using BenchmarkDotNet.Running;
using Vigil.Benchmarks;

// `-- memory [series]` measures bytes per counter series; anything else goes to BenchmarkDotNet
// (e.g. `-- --filter '*'`).
if (args.Length > 0 && args[0] == "memory")
{
    var series = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
    return SeriesMemory.Run(series);
}

// `-- checkpoint [series]` measures a checkpoint's ingest pause and memory (issue 14).
if (args.Length > 0 && args[0] == "checkpoint")
{
    return CheckpointPause.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000);
}

BenchmarkSwitcher.FromAssembly(typeof(IngestBenchmarks).Assembly).Run(args);
return 0;
