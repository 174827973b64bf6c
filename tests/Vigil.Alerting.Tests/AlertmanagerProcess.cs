using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Vigil.Alerting.Tests;

/// <summary>
/// A real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1 with a free port, clustering off, state in a
/// temp dir and one null receiver. Killed on dispose.
/// </summary>
public sealed class AlertmanagerProcess : IAsyncLifetime
{
    public const string Binary = "/usr/bin/prometheus-alertmanager";

    private readonly StringBuilder _output = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vigil-am-" + Guid.NewGuid().ToString("N"));
    private Process? _process;

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    public string? StartError { get; private set; }

    public async Task InitializeAsync()
    {
        if (!File.Exists(Binary))
        {
            StartError = $"{Binary} is missing: the Alertmanager integration tests need the Debian package prometheus-alertmanager. " +
                "Run tests/run.sh (it installs the packages listed in tests/apt-packages.txt), or apt-get install -y prometheus-alertmanager.";
            return;
        }

        Directory.CreateDirectory(_dir);
        var config = Path.Combine(_dir, "alertmanager.yml");
        await File.WriteAllTextAsync(config, "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n");
        var port = FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     $"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", $"--storage.path={Path.Combine(_dir, "data")}",
                     $"--config.file={config}", "--log.level=warn",
                 })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Binary}");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                StartError = $"Alertmanager exited with {_process.ExitCode}: {Output}";
                return;
            }

            try
            {
                using var response = await Http.GetAsync(new Uri(BaseAddress, "/-/ready"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        StartError = $"Alertmanager was not ready within 30s: {Output}";
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public void Require()
    {
        if (StartError is not null)
        {
            Assert.Fail(StartError);
        }
    }

    /// <summary>GET /api/v2/alerts (active, silenced, inhibited and unprocessed alerts; Alertmanager leaves resolved ones out).</summary>
    public async Task<JsonElement> GetAlertsAsync()
    {
        var json = await Http.GetStringAsync(new Uri(BaseAddress, "/api/v2/alerts"));
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    /// <summary>Polls Alertmanager's alerts until <paramref name="condition"/> holds or 10 seconds pass; returns the last list.</summary>
    public async Task<JsonElement> WaitForAlertsAsync(Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var alerts = await GetAlertsAsync();
        while (!condition(alerts) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            alerts = await GetAlertsAsync();
        }

        return alerts;
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process?.Dispose();
        Http.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }

        return Task.CompletedTask;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
