using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Vigil.Collector.Tests;

/// <summary>One raw sample a store holds: unix ms and value.</summary>
public readonly record struct StoredSample(long TimestampMs, double Value);

/// <summary>
/// A remote-write store as a real process on 127.0.0.1 (a free or given port, a temporary data directory): the Debian
/// packages' VictoriaMetrics or Prometheus with <c>--web.enable-remote-write-receiver</c>. Killed with its process tree
/// on dispose. <see cref="RawAsync"/> reads back exactly the samples the store holds for one series selector.
/// </summary>
public sealed class RemoteWriteReceiver : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    private readonly bool _prometheus;
    private readonly StringBuilder _log = new();

    private RemoteWriteReceiver(Process process, string dir, int port, bool prometheus)
    {
        _process = process;
        _dir = dir;
        _prometheus = prometheus;
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public int Port { get; }

    public HttpClient Http { get; }

    public string WriteUrl => $"http://127.0.0.1:{Port}/api/v1/write";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static Task<RemoteWriteReceiver> StartVictoriaMetricsAsync(int? port = null)
    {
        const string binary = "/usr/bin/victoria-metrics";
        var p = port ?? FreePort();
        var dir = NewDir("vm");
        return StartAsync(binary, "victoria-metrics", dir, p, false,
            $"-httpListenAddr=127.0.0.1:{p}", $"-storageDataPath={Path.Combine(dir, "data")}", "-retentionPeriod=1d",
            "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR");
    }

    public static async Task<RemoteWriteReceiver> StartPrometheusAsync(int? port = null)
    {
        const string binary = "/usr/bin/prometheus";
        var p = port ?? FreePort();
        var dir = NewDir("prom");
        var config = Path.Combine(dir, "prometheus.yml");
        await File.WriteAllTextAsync(config, "global:\n  scrape_interval: 1m\n");
        return await StartAsync(binary, "prometheus", dir, p, true,
            $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(dir, "data")}", $"--web.listen-address=127.0.0.1:{p}",
            "--web.enable-remote-write-receiver", $"--web.console.templates={dir}", $"--web.console.libraries={dir}", "--log.level=warn");
    }

    /// <summary>Every sample the store holds for <paramref name="selector"/> (one series), oldest first.</summary>
    public async Task<List<StoredSample>> RawAsync(string selector)
    {
        if (_prometheus)
        {
            var at = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 + 60).ToString(CultureInfo.InvariantCulture);
            using var document = JsonDocument.Parse(await Http.GetStringAsync($"/api/v1/query?query={Uri.EscapeDataString(selector + "[1h]")}&time={at}"));
            var result = document.RootElement.GetProperty("data").GetProperty("result");
            if (result.GetArrayLength() == 0)
            {
                return [];
            }

            Assert.Equal(1, result.GetArrayLength());
            return [.. result[0].GetProperty("values").EnumerateArray().Select(v => new StoredSample(
                (long)Math.Round(v[0].GetDouble() * 1000), double.Parse(v[1].GetString()!, CultureInfo.InvariantCulture)))];
        }

        var text = await Http.GetStringAsync($"/api/v1/export?match[]={Uri.EscapeDataString(selector)}&start=0");
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0)
        {
            return [];
        }

        Assert.Single(lines);
        using var series = JsonDocument.Parse(lines[0]);
        var timestamps = series.RootElement.GetProperty("timestamps").EnumerateArray().Select(t => t.GetInt64()).ToList();
        var values = series.RootElement.GetProperty("values").EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.Parse(v.GetString()!, CultureInfo.InvariantCulture)).ToList();
        return [.. timestamps.Zip(values, (t, v) => new StoredSample(t, v)).OrderBy(s => s.TimestampMs)];
    }

    /// <summary>Polls <see cref="RawAsync"/> until the store holds at least <paramref name="count"/> samples (30 s at most).</summary>
    public async Task<List<StoredSample>> WaitForAsync(string selector, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var samples = await RawAsync(selector);
        while (samples.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            samples = await RawAsync(selector);
        }

        Assert.True(samples.Count >= count, $"{selector}: {samples.Count} of {count} samples after 30s: [{string.Join(", ", samples)}]; log:\n{Logged()}");
        return samples;
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

    private static string NewDir(string kind)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"vigil-{kind}-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static async Task<RemoteWriteReceiver> StartAsync(string binary, string package, string dir, int port, bool prometheus, params string[] arguments)
    {
        Assert.True(File.Exists(binary), $"{binary} is missing: run tests/run.sh, which installs the Debian packages in tests/apt-packages.txt ({package})");
        var start = new ProcessStartInfo(binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = dir };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var receiver = new RemoteWriteReceiver(process, dir, port, prometheus);
        process.ErrorDataReceived += (_, e) => receiver.Log(e.Data);
        process.OutputDataReceived += (_, e) => receiver.Log(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                using var response = await receiver.Http.GetAsync(prometheus ? "/-/ready" : "/health");
                if (response.IsSuccessStatusCode)
                {
                    return receiver;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        var log = receiver.Logged();
        await receiver.DisposeAsync();
        Assert.Fail($"{binary} did not become ready within 30s; log:\n{log}");
        return null!;
    }

    private void Log(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    private string Logged()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }
}
