using System.Globalization;
using System.Net;

namespace Vigil.LoadTool;

internal enum Target
{
    Grpc,
    Http,

    /// <summary>OTLP/HTTP over HTTP/2 with prior knowledge, on the OTLP/HTTP port.</summary>
    H2c,
}

/// <summary>Command-line settings, each checked and bounded so a run cannot go on forever.</summary>
internal sealed record LoadOptions
{
    public const string Usage = """
        vigil-load: replays OTLP metrics requests at a Vigil collector on this machine (loopback only).

          --target grpc|http|h2c      transport (default grpc; h2c: OTLP/HTTP over cleartext HTTP/2)
          --endpoint HOST:PORT        collector OTLP endpoint (default 127.0.0.1:4317 for grpc, 127.0.0.1:4318 for http)
          --concurrency N             requests in flight, 1..256 (default 8)
          --duration 20s              measured time, at most 10m (default 20s)
          --warmup 3s                 sent but not counted, at most 1m (default 3s)
          --max-requests N            stop after N requests, whichever comes first (default 10000000)
          --points-per-request N      data points per request, 1..100000 (default 1000)
          --series N                  distinct counter series, 1..10000000 (default 10000)
          --metrics N                 metric names the series spread over, 1..1000 (default 20)
          --spawn                     start the collector on free loopback ports, stop it afterwards
          --collector-dll PATH        vigil.dll for --spawn (default: collector/bin/Release/net10.0/vigil.dll above this tool)
        """;

    public Target Target { get; init; } = Target.Grpc;

    public IPEndPoint? Endpoint { get; init; }

    public int Concurrency { get; init; } = 8;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    public long MaxRequests { get; init; } = 10_000_000;

    public int PointsPerRequest { get; init; } = 1000;

    public int Series { get; init; } = 10_000;

    public int Metrics { get; init; } = 20;

    public bool Spawn { get; init; }

    public string? CollectorDll { get; init; }

    public static LoadOptions Parse(string[] args)
    {
        var options = new LoadOptions();
        string? endpoint = null;
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            if (name == "--endpoint")
            {
                endpoint = Value();
                continue;
            }

            options = name switch
            {
                "--target" => options with { Target = Value() switch { "grpc" => Target.Grpc, "http" => Target.Http, "h2c" => Target.H2c, var v => throw new ArgumentException($"--target: '{v}' is not grpc, http or h2c") } },
                "--concurrency" => options with { Concurrency = Int(name, Value(), 1, 256) },
                "--duration" => options with { Duration = Time(name, Value(), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10)) },
                "--warmup" => options with { Warmup = Time(name, Value(), TimeSpan.Zero, TimeSpan.FromMinutes(1)) },
                "--max-requests" => options with { MaxRequests = Int(name, Value(), 1, 100_000_000) },
                "--points-per-request" => options with { PointsPerRequest = Int(name, Value(), 1, 100_000) },
                "--series" => options with { Series = Int(name, Value(), 1, 10_000_000) },
                "--metrics" => options with { Metrics = Int(name, Value(), 1, 1000) },
                "--spawn" => options with { Spawn = true },
                "--collector-dll" => options with { CollectorDll = Value() },
                _ => throw new ArgumentException($"unknown option '{name}'"),
            };
        }

        if (endpoint is not null)
        {
            if (options.Spawn)
            {
                throw new ArgumentException("--endpoint and --spawn exclude each other: --spawn picks its own loopback ports");
            }

            options = options with { Endpoint = Loopback(endpoint) };
        }

        if (options.Series < options.PointsPerRequest)
        {
            throw new ArgumentException($"--series ({options.Series}) must be at least --points-per-request ({options.PointsPerRequest})");
        }

        var requests = (options.Series + options.PointsPerRequest - 1) / options.PointsPerRequest;
        if (requests < options.Concurrency)
        {
            throw new ArgumentException($"{requests} distinct requests cannot feed {options.Concurrency} workers without two of them sending the same series at once; raise --series or lower --concurrency / --points-per-request");
        }

        return options;
    }

    /// <summary>Only loopback targets: this tool is for measuring a local collector, not for loading someone else's.</summary>
    private static IPEndPoint Loopback(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new ArgumentException($"--endpoint: '{text}' is not HOST:PORT");
        }

        var host = text[..colon].Trim('[', ']');
        var address = host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : IPAddress.TryParse(host, out var parsed) ? parsed : null;
        if (address is null || !IPAddress.IsLoopback(address))
        {
            throw new ArgumentException($"--endpoint: '{host}' is not a loopback address; vigil-load only targets 127.0.0.1, ::1 or localhost");
        }

        return new IPEndPoint(address, port);
    }

    private static int Int(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name}: '{value}' is not a whole number in [{min}, {max}]");

    private static TimeSpan Time(string name, string value, TimeSpan min, TimeSpan max)
    {
        var unit = value.EndsWith("ms", StringComparison.Ordinal) ? "ms" : value.Length > 0 && char.IsLetter(value[^1]) ? value[^1..] : "s";
        var number = value.EndsWith(unit, StringComparison.Ordinal) ? value[..^unit.Length] : value;
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            throw new ArgumentException($"{name}: '{value}' is not a duration like 500ms, 20s or 2m");
        }

        var time = unit switch
        {
            "ms" => TimeSpan.FromMilliseconds(amount),
            "s" => TimeSpan.FromSeconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            _ => throw new ArgumentException($"{name}: unit '{unit}' is not ms, s or m"),
        };
        return time >= min && time <= max ? time : throw new ArgumentException($"{name}: {value} is outside [{min}, {max}]");
    }
}
