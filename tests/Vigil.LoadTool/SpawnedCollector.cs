using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Vigil.LoadTool;

/// <summary>
/// A collector this tool starts on free loopback ports and stops afterwards (the process it started,
/// by its handle, nothing else). Its CPU time tells how much of the machine the server side used.
/// </summary>
internal sealed class SpawnedCollector : IDisposable
{
    private readonly Process _process;
    private readonly string _dataDir;

    private SpawnedCollector(Process process, string dataDir, IPEndPoint grpc, IPEndPoint http)
    {
        _process = process;
        _dataDir = dataDir;
        Grpc = grpc;
        Http = http;
    }

    public IPEndPoint Grpc { get; }

    public IPEndPoint Http { get; }

    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public long PeakWorkingSet
    {
        get
        {
            _process.Refresh();
            return _process.PeakWorkingSet64;
        }
    }

    public long WorkingSet
    {
        get
        {
            _process.Refresh();
            return _process.WorkingSet64;
        }
    }

    public static async Task<SpawnedCollector> StartAsync(string? dll, CancellationToken cancellationToken)
    {
        dll ??= FindCollector();
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"collector not found at {dll}; build it with `dotnet build -c Release collector` or pass --collector-dll", dll);
        }

        var ports = FreePorts(3);
        var dataDir = Directory.CreateTempSubdirectory("vigil-load-").FullName;
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = dataDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { dll, "--otlp-grpc", $"127.0.0.1:{ports[0]}", "--otlp-http", $"127.0.0.1:{ports[1]}", "--http", $"127.0.0.1:{ports[2]}", "--data-dir", dataDir })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var collector = new SpawnedCollector(process, dataDir, new IPEndPoint(IPAddress.Loopback, ports[0]), new IPEndPoint(IPAddress.Loopback, ports[1]));

        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (process.HasExited)
            {
                break;
            }

            try
            {
                using var ready = await client.GetAsync(new Uri($"http://127.0.0.1:{ports[2]}/readyz"), cancellationToken);
                if (ready.IsSuccessStatusCode)
                {
                    Console.WriteLine($"collector: pid {process.Id}, OTLP/gRPC {collector.Grpc}, OTLP/HTTP {collector.Http}, API 127.0.0.1:{ports[2]}");
                    return collector;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(200, cancellationToken);
        }

        collector.Dispose();
        string output;
        lock (log)
        {
            output = log.ToString();
        }

        throw new InvalidOperationException($"collector did not become ready within 30 s; its output:\n{output}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_dataDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    internal static string FindCollector()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "collector", "bin", "Release", "net10.0", "vigil.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return Path.Combine("collector", "bin", "Release", "net10.0", "vigil.dll");
    }

    private static int[] FreePorts(int count)
    {
        var listeners = new TcpListener[count];
        try
        {
            for (var i = 0; i < count; i++)
            {
                listeners[i] = new TcpListener(IPAddress.Loopback, 0);
                listeners[i].Start();
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener?.Stop();
            }
        }
    }
}
