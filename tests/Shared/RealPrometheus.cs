using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Vigil.Tests.Shared;

/// <summary>
/// The Debian package's Prometheus on 127.0.0.1 (a free port, a temporary directory), either scraping one target
/// every second or serving a TSDB backfilled with <see cref="BackfillAsync"/>. Killed with its process tree on dispose.
/// </summary>
public sealed class RealPrometheus : IAsyncDisposable
{
    private const string Binary = "/usr/bin/prometheus";
    private const string Promtool = "/usr/bin/promtool";
    private readonly Process _process;
    private readonly string _dir;
    private readonly StringBuilder _log = new();

    private RealPrometheus(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    /// <summary>Prometheus' own HTTP API.</summary>
    public HttpClient Http { get; }

    /// <summary>A Prometheus scraping <paramref name="target"/>'s /metrics every second as job <c>vigil</c>.</summary>
    public static Task<RealPrometheus> StartAsync(Uri target) => StartAsync($"""
        global:
          scrape_interval: 1s
          scrape_timeout: 1s
        scrape_configs:
          - job_name: vigil
            metrics_path: /metrics
            static_configs:
              - targets: ["127.0.0.1:{target.Port}"]
        """);

    /// <summary>
    /// A Prometheus with <paramref name="config"/>, on the TSDB in <paramref name="tsdbPath"/> (kept on dispose) or
    /// a fresh one in its temporary directory.
    /// </summary>
    public static async Task<RealPrometheus> StartAsync(string config, string? tsdbPath = null)
    {
        RequireBinary(Binary);
        var dir = NewDirectory("vigil-prometheus-");
        var configFile = Path.Combine(dir, "prometheus.yml");
        await File.WriteAllTextAsync(configFile, config);
        var port = FreePort();
        var start = new ProcessStartInfo(Binary)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        foreach (var argument in new[]
        {
            "--config.file=" + configFile,
            "--storage.tsdb.path=" + (tsdbPath ?? Path.Combine(dir, "data")),
            // Retention counts back from the newest block, so backfilled data of any age stays.
            "--storage.tsdb.retention.time=10y",
            "--web.listen-address=127.0.0.1:" + port,
            "--web.console.templates=" + Path.Combine(dir, "consoles"),
            "--web.console.libraries=" + Path.Combine(dir, "console_libraries"),
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var prometheus = new RealPrometheus(process, dir, port);
        process.ErrorDataReceived += (_, e) => prometheus.Log(e.Data);
        process.OutputDataReceived += (_, e) => prometheus.Log(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        await prometheus.WaitReadyAsync();
        return prometheus;
    }

    /// <summary>
    /// Writes the OpenMetrics text file <paramref name="openMetricsFile"/> into TSDB blocks under
    /// <paramref name="tsdbPath"/> with <c>promtool tsdb create-blocks-from openmetrics</c>, as an operator backfills.
    /// </summary>
    public static async Task BackfillAsync(string openMetricsFile, string tsdbPath, CancellationToken cancellationToken = default)
    {
        var (exit, output) = await PromtoolAsync(["tsdb", "create-blocks-from", "openmetrics", openMetricsFile, tsdbPath], cancellationToken);
        Assert.True(exit == 0, $"promtool tsdb create-blocks-from openmetrics exited {exit}:\n{output}");
    }

    /// <summary>Runs the Debian <c>promtool</c> with <paramref name="arguments"/>; its exit code and stdout then stderr.</summary>
    public static async Task<(int Exit, string Output)> PromtoolAsync(IEnumerable<string> arguments, CancellationToken cancellationToken = default)
    {
        RequireBinary(Promtool);
        var start = new ProcessStartInfo(Promtool)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await output + await error);
    }

    /// <summary>Polls an instant query until it has exactly one sample (the first scrapes take a second or two).</summary>
    public async Task<double> ValueAsync(string query)
    {
        var last = string.Empty;
        var value = double.NaN;
        var found = await UntilAsync(async () =>
        {
            last = await Http.GetStringAsync("/api/v1/query?query=" + Uri.EscapeDataString(query));
            using var document = JsonDocument.Parse(last);
            var result = document.RootElement.GetProperty("data").GetProperty("result");
            if (result.GetArrayLength() != 1)
            {
                return false;
            }

            value = double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
            return true;
        });

        Assert.True(found, $"Prometheus had no single sample for {query} within 30s; last answer {last}; log:\n{Logged()}");
        return value;
    }

    public async Task<string?> MetadataTypeAsync(string metric)
    {
        string? type = null;
        await UntilAsync(async () =>
        {
            using var document = JsonDocument.Parse(await Http.GetStringAsync("/api/v1/metadata?metric=" + Uri.EscapeDataString(metric)));
            if (!document.RootElement.GetProperty("data").TryGetProperty(metric, out var entries))
            {
                return false;
            }

            type = entries[0].GetProperty("type").GetString();
            return true;
        });

        return type;
    }

    /// <summary>
    /// The scrape pools of the active targets, sorted, once there are at least <paramref name="atLeast"/> of them
    /// (discovery hands static targets to the scrape manager a few seconds after start), or as they are after 30 s.
    /// </summary>
    public async Task<List<string>> ScrapePoolsAsync(int atLeast)
    {
        List<string> pools = [];
        await UntilAsync(async () =>
        {
            using var targets = JsonDocument.Parse(await Http.GetStringAsync("/api/v1/targets"));
            pools = [.. targets.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray()
                .Select(t => t.GetProperty("scrapePool").GetString() ?? string.Empty).Distinct().Order(StringComparer.Ordinal)];
            return pools.Count >= atLeast;
        });

        return pools;
    }

    /// <summary>What the process wrote so far, for failure messages.</summary>
    public string Logged()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A file still being closed by the exiting process; the temp directory is cleaned by the OS.
        }
    }

    public static string NewDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// Asks again until <paramref name="done"/> says yes or 30 s pass; false on the deadline. Prometheus is another
    /// process and publishes no event for its start, discovery, scrapes or metadata, so its state is polled.
    /// </summary>
    private static async Task<bool> UntilAsync(Func<Task<bool>> done, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await done())
            {
                return true;
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(200));
        }

        return false;
    }

    private static void RequireBinary(string binary) =>
        Assert.True(File.Exists(binary), $"{binary} is missing: run tests/run.sh, which installs the Debian packages in tests/apt-packages.txt (prometheus)");

    private async Task WaitReadyAsync()
    {
        var ready = false;
        await UntilAsync(
            async () =>
            {
                if (_process.HasExited)
                {
                    return true;
                }

                try
                {
                    using var response = await Http.GetAsync("/-/ready");
                    return ready = response.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false; // not listening yet
                }
            },
            TimeSpan.FromMilliseconds(100));

        if (ready)
        {
            return;
        }

        var exited = _process.HasExited;
        await DisposeAsync();
        Assert.Fail($"Prometheus did not become ready within 30s (exited: {exited}); log:\n{Logged()}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Log(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}
