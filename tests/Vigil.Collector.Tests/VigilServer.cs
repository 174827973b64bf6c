using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Vigil.Collector;
using Vigil.Collector.Configuration;
using Vigil.Storage;

namespace Vigil.Collector.Tests;

/// <summary>A real Vigil on 127.0.0.1 with OS-assigned ports and a temporary data directory.</summary>
public sealed class VigilServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _keepDataDir;

    private VigilServer(WebApplication app, string dataDir, bool keepDataDir)
    {
        _app = app;
        DataDir = dataDir;
        _keepDataDir = keepDataDir;
        var listeners = app.Services.GetRequiredService<Listeners>();
        Grpc = listeners.EndPoint(Listeners.OtlpGrpc);
        OtlpHttp = listeners.EndPoint(Listeners.OtlpHttp);
        Http = listeners.EndPoint(Listeners.Http);
    }

    public string DataDir { get; }

    public IPEndPoint Grpc { get; }

    public IPEndPoint OtlpHttp { get; }

    public IPEndPoint Http { get; }

    public Uri GrpcUri => new($"http://127.0.0.1:{Grpc.Port}");

    public Uri OtlpHttpUri => new($"http://127.0.0.1:{OtlpHttp.Port}");

    public Uri HttpUri => new($"http://127.0.0.1:{Http.Port}");

    public WindowStore Store => _app.Services.GetRequiredService<WindowStore>();

    public IServiceProvider Services => _app.Services;

    public static string NewDataDir() => Path.Combine(Path.GetTempPath(), "vigil-test-" + Guid.NewGuid().ToString("N"));

    /// <summary>A copy of a running server's data directory: what a kill -9 at this moment leaves on disk.</summary>
    public static string CrashCopy(string dataDir)
    {
        var copy = NewDataDir();
        foreach (var file in Directory.GetFiles(dataDir, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(dataDir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var destination = File.Create(target);
            source.CopyTo(destination);
        }

        return copy;
    }

    /// <summary>Starts Vigil and waits until /readyz would say ready (WAL replayed).</summary>
    /// <param name="services">Runs after Vigil's own registrations, so a test can replace one (e.g. the memory gauge).</param>
    public static async Task<VigilServer> StartAsync(Func<VigilOptions, VigilOptions>? configure = null, TimeProvider? time = null, string? dataDir = null, Action<WebApplicationBuilder>? host = null, Action<IServiceCollection>? services = null)
    {
        var keep = dataDir is not null;
        dataDir ??= NewDataDir();
        var loopback = new IPEndPoint(IPAddress.Loopback, 0);
        var options = new VigilOptions { OtlpGrpc = loopback, OtlpHttp = new IPEndPoint(IPAddress.Loopback, 0), Http = new IPEndPoint(IPAddress.Loopback, 0), DataDir = dataDir };
        options = configure?.Invoke(options) ?? options;
        var app = VigilApp.Build(options, time, builder =>
        {
            host?.Invoke(builder);
            services?.Invoke(builder.Services);
        });
        await app.StartAsync();
        var readiness = app.Services.GetRequiredService<Readiness>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!readiness.IsReady && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(readiness.IsReady, "Vigil did not become ready within 30s");
        return new VigilServer(app, options.DataDir, keep);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (!_keepDataDir && Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }
}
