using System.Globalization;

namespace Vigil.LoadTool.Soak;

/// <summary>Settings of <c>vigil-load soak</c>, each bounded so a run always ends.</summary>
internal sealed record SoakOptions
{
    public const string Usage = """
        vigil-load soak: ingest + rules + delivery on loopback for minutes, kill -9 and restart halfway, then check
        that no acknowledged point was lost, the collector's RSS stayed under the ceiling, and every alert event
        reached the webhook. Exit code 0 = all checks passed.

          --duration 5m               how long to send, 1m..30m (default 5m)
          --memory-ceiling 1024       collector RSS ceiling in MiB, 128..65536 (default 1024); ingest.memory_limit is half of it
          --series N                  distinct counter series, 500..1000000 (default 20000)
          --concurrency N             requests in flight, 1..32 (default 4)
          --collector-dll PATH        vigil.dll (default: collector/bin/Release/net10.0/vigil.dll above this tool)
          --keep-data                 keep the temporary data directory (WAL, alerts.db) for inspection
        """;

    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(5);

    public long MemoryCeiling { get; init; } = 1024L * 1024 * 1024;

    public int Series { get; init; } = 20_000;

    public int Concurrency { get; init; } = 4;

    public string? CollectorDll { get; init; }

    public bool KeepData { get; init; }

    public static SoakOptions Parse(string[] args)
    {
        var options = new SoakOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            options = name switch
            {
                "--duration" => options with { Duration = Minutes(name, Value()) },
                "--memory-ceiling" => options with { MemoryCeiling = Int(name, Value(), 128, 65_536) * 1024L * 1024 },
                "--series" => options with { Series = Int(name, Value(), 500, 1_000_000) },
                "--concurrency" => options with { Concurrency = Int(name, Value(), 1, 32) },
                "--collector-dll" => options with { CollectorDll = Value() },
                "--keep-data" => options with { KeepData = true },
                _ => throw new ArgumentException($"unknown option '{name}'"),
            };
        }

        return options;
    }

    private static int Int(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name}: '{value}' is not a whole number in [{min}, {max}]");

    private static TimeSpan Minutes(string name, string value) =>
        value.EndsWith('m') && int.TryParse(value[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var minutes) && minutes is >= 1 and <= 30
            ? TimeSpan.FromMinutes(minutes)
            : throw new ArgumentException($"{name}: '{value}' is not a whole number of minutes from 1m to 30m");
}
