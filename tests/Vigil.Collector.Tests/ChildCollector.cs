using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Vigil.Collector.Tests;

/// <summary>
/// The real vigil binary in a child process on loopback ports: for kill -9 tests and for anything
/// that must not share the test process (the OpenTelemetry SDK listens to meters by name, process-wide).
/// </summary>
public sealed class ChildCollector : IDisposable
{
    private readonly Process _process;
    private readonly Lock _watchLock = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource Seen)> _watches = [];

    private ChildCollector(Process process, int grpc, int otlpHttp, int http)
    {
        _process = process;
        GrpcPort = grpc;
        OtlpHttpPort = otlpHttp;
        HttpPort = http;
    }

    public int GrpcPort { get; }

    public int OtlpHttpPort { get; }

    public int HttpPort { get; }

    public Uri OtlpHttpUri => new($"http://127.0.0.1:{OtlpHttpPort}");

    public Uri HttpUri => new($"http://127.0.0.1:{HttpPort}");

    public static async Task<ChildCollector> StartAsync(string dataDir, params string[] extraArgs)
    {
        int grpc = FreePort(), otlpHttp = FreePort(), http = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "vigil.dll"),
            "--otlp-grpc", $"127.0.0.1:{grpc}", "--otlp-http", $"127.0.0.1:{otlpHttp}", "--http", $"127.0.0.1:{http}",
            "--data-dir", dataDir,
        }.Concat(extraArgs))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        var child = new ChildCollector(process, grpc, otlpHttp, http);
        process.OutputDataReceived += (_, line) => child.OnOutput(line.Data);
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await child.WaitReadyAsync();
        return child;
    }

    /// <summary>
    /// Completes when the child writes a line (its console log) that <paramref name="match"/> accepts from now on:
    /// to act at the moment something is logged, e.g. kill the process right as an alert transition is logged.
    /// </summary>
    public Task WaitForOutputAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_watchLock)
        {
            _watches.Add((match, seen));
        }

        return seen.Task.WaitAsync(timeout);
    }

    /// <summary>SIGKILL: no shutdown hook runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_watchLock)
        {
            foreach (var watch in _watches.Where(w => w.Match(line)).ToList())
            {
                watch.Seen.TrySetResult();
                _watches.Remove(watch);
            }
        }
    }

    private async Task WaitReadyAsync()
    {
        using var http = new HttpClient { BaseAddress = HttpUri };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            try
            {
                using var response = await http.GetAsync("/readyz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(50);
        }

        Assert.Fail($"the child collector did not become ready on port {HttpPort} (exited: {_process.HasExited})");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
