using System.Net.Sockets;
using System.Runtime.InteropServices;
using Vigil.Collector;
using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;
using Vigil.Collector.Security;
using Vigil.Demo;

// vigil [--config FILE] [--otlp-grpc HOST:PORT] [--otlp-http HOST:PORT] [--http HOST:PORT] [--data-dir DIR] [--rules DIR]
// vigil rules check FILE|DIR...     vigil rules test FILE...     vigil keys add --tenant NAME [--admin | --read]
// vigil rules backtest FILE... --server URL [--from T] [--to T]     vigil gate --server URL [--severity P1] [--match L=V] [--quiet-for 10m]
// vigil --demo [--demo-scenario-length SECONDS]     vigil --demo-emit URL [--demo-scenario-length SECONDS]
if (args.Length > 0 && args[0] == "rules")
{
    return RulesCommand.Run(args[1..], Console.Out, Console.Error);
}

if (args.Length > 0 && args[0] == "gate")
{
    return await GateCommand.RunAsync(args[1..], Console.Out, Console.Error);
}

if (args.Length > 0 && args[0] == "keys")
{
    return KeysCommand.Run(args[1..], Console.Out, Console.Error);
}

// vigil --demo-emit URL: only emit the demo traffic (the docker-compose demo service).
var (demoEmit, demoError) = DemoCommandLine.Parse(args);
if (demoError is not null)
{
    await Console.Error.WriteLineAsync("vigil: " + demoError);
    return 2;
}

if (demoEmit is not null)
{
    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.Cancel();
    };
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });
    await DemoEmitter.RunStandaloneAsync(demoEmit.Endpoint, demoEmit.Options, logger: null, stop.Token);
    return 0;
}

VigilOptions options;
try
{
    options = ConfigLoader.Load(ConfigLoader.ConfigPath(args), args);
}
catch (ConfigException e)
{
    await Console.Error.WriteLineAsync("vigil: configuration problems:");
    foreach (var problem in e.Problems)
    {
        await Console.Error.WriteLineAsync("  " + problem);
    }

    return 2;
}

var app = VigilApp.Build(options);

// vigil --demo: Vigil plus the demo emitter in-process, exporting to Vigil's own OTLP/gRPC port.
IAsyncDisposable? demo = null;
if (args.Contains("--demo"))
{
    var demoOptions = DemoCommandLine.Parse([.. args, DemoCommandLine.EmitFlag, "http://127.0.0.1"]).Command!.Options;
    app.Lifetime.ApplicationStarted.Register(() =>
    {
        var port = app.Services.GetRequiredService<Listeners>().EndPoint(Listeners.OtlpGrpc).Port;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Vigil.Demo");
        demo = DemoEmitter.StartInProcess(new Uri($"http://127.0.0.1:{port}"), demoOptions, logger);
        logger.LogInformation("Demo traffic started; watch alerts at http://127.0.0.1:{Port}/api/v1/alerts", app.Services.GetRequiredService<Listeners>().EndPoint(Listeners.Http).Port);
    });
}

try
{
    await app.RunAsync();
    return 0;
}
catch (IOException e) when (e.InnerException is SocketException or null && e.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
{
    await Console.Error.WriteLineAsync($"vigil: {e.Message}. Another process holds the port; pick others with --otlp-grpc, --otlp-http or --http.");
    return 1;
}
finally
{
    if (demo is not null)
    {
        await demo.DisposeAsync();
    }
}
