using System.Net.Sockets;
using Vigil.Collector;
using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;

// vigil [--config FILE] [--otlp-grpc HOST:PORT] [--otlp-http HOST:PORT] [--http HOST:PORT] [--data-dir DIR] [--rules DIR]
// vigil rules check FILE|DIR...     vigil rules test FILE...
if (args.Length > 0 && args[0] == "rules")
{
    return RulesCommand.Run(args[1..], Console.Out, Console.Error);
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
