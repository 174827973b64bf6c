using System.Globalization;
using BenchmarkDotNet.Running;
using Vigil.Benchmarks;

// Modes that are not BenchmarkDotNet runs; anything else goes to BenchmarkDotNet (e.g. `-- --filter '*'`).
//   memory [series] [interval s]   bytes per counter series (at 60 and 10 s exports, or only the one given)
//   cpu [rounds]                   CPU time and bytes per ingested point
//   rules [rounds]                 CPU and memory per rule round (RuleReadBenchmarks' model)
//   idle [series] [rounds]         the default rule packs' CPU per round over an idle store (decision 034)
//   walsize [requests] [in-flight] the WAL's bytes per point and the codec candidates (decision 030)
//   checkpoint [series] [keep]     a checkpoint's ingest pause and memory (decision 024), then its load (decision 035);
//                                  keep: where to leave the checkpoint file
//   checkpoint-load file [series]  only the load of a kept checkpoint (to profile it)
//   catalog [series]               CPU and bytes of a PromQL query of 10 series beside N others (decision 035)
int Arg(int index, int fallback) => args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;

switch (args.Length > 0 ? args[0] : string.Empty)
{
    case "memory":
        return SeriesMemory.Run(Arg(1, 100_000), Arg(2, 0));
    case "cpu":
        return IngestCpu.Run(Arg(1, 5));
    case "rules":
        return RuleReadModel.Run(Arg(1, 10));
    case "idle":
        return IdleRules.Run(Arg(1, 1_000_000), Arg(2, 5));
    case "walsize":
        return WalSize.Run(Arg(1, 2_000), Arg(2, 8));
    case "checkpoint":
        return CheckpointPause.Run(Arg(1, 100_000), args.Length > 2 ? args[2] : null);
    case "catalog":
        return QueryCatalog.Run(Arg(1, 1_000_000));
    case "checkpoint-load":
        return CheckpointPause.Load(args[1], Arg(2, 1_000_000));
}

BenchmarkSwitcher.FromAssembly(typeof(IngestBenchmarks).Assembly).Run(args);
return 0;
