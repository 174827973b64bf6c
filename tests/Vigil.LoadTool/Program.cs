using Vigil.LoadTool;
using Vigil.LoadTool.Soak;

if (args is ["soak", ..])
{
    return await SoakRun.MainAsync(args[1..]);
}

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"vigil-load: {e.Message}");
    Console.Error.WriteLine();
    Console.Error.WriteLine(LoadOptions.Usage);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

SpawnedCollector? collector = null;
try
{
    if (options.Spawn)
    {
        collector = await SpawnedCollector.StartAsync(options.CollectorDll, cancel.Token);
    }

    var endpoint = collector is not null
        ? (options.Target == Target.Grpc ? collector.Grpc : collector.Http)
        : options.Endpoint ?? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, options.Target == Target.Grpc ? 4317 : 4318);
    using ISender sender = options.Target == Target.Grpc ? new GrpcSender(endpoint) : new HttpSender(endpoint, http2: options.Target == Target.H2c);
    return await new LoadRun(options).RunAsync(sender, collector, cancel.Token);
}
finally
{
    collector?.Dispose();
}
