using System.Globalization;

namespace Vigil.Demo;

/// <summary>A parsed <c>--demo-emit</c> command line.</summary>
/// <param name="Endpoint">where to export OTLP.</param>
/// <param name="Options">the demo options the flags set.</param>
public sealed record DemoCommand(Uri Endpoint, DemoOptions Options);

/// <summary>
/// The demo flags of the <c>vigil</c> executable:
/// <c>--demo-emit URL</c> (only emit, to an OTLP endpoint such as <c>http://otel-agent:4317</c>) and
/// <c>--demo-scenario-length SECONDS</c> (length of every incident; default: each scenario's own).
/// </summary>
public static class DemoCommandLine
{
    public const string EmitFlag = "--demo-emit";
    public const string ScenarioLengthFlag = "--demo-scenario-length";

    /// <summary>
    /// Null command and null error when <c>--demo-emit</c> is absent; a command when the flags are valid; an error a
    /// person can act on otherwise. Other flags are left to the caller.
    /// </summary>
    public static (DemoCommand? Command, string? Error) Parse(IReadOnlyList<string> args, DemoOptions? defaults = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = defaults ?? new DemoOptions();
        Uri? endpoint = null;
        var emit = false;
        for (var i = 0; i < args.Count; i++)
        {
            var (flag, value, next) = FlagValue(args, i);
            switch (flag)
            {
                case EmitFlag:
                    emit = true;
                    if (value is null || !Uri.TryCreate(value, UriKind.Absolute, out endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
                    {
                        return (null, $"{EmitFlag} needs an OTLP endpoint URL such as http://otel-agent:4317 (gRPC) or http://vigil:4318 (HTTP); got '{value}'");
                    }

                    i = next;
                    break;
                case ScenarioLengthFlag:
                    if (value is null || !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds < 1 || seconds > 86_400)
                    {
                        return (null, $"{ScenarioLengthFlag} needs a number of seconds between 1 and 86400; got '{value}'");
                    }

                    options = options with { ScenarioLength = TimeSpan.FromSeconds(seconds) };
                    i = next;
                    break;
            }
        }

        if (!emit)
        {
            return (null, null);
        }

        var problems = options.Validate();
        return problems.Count > 0 ? (null, string.Join("; ", problems)) : (new DemoCommand(endpoint!, options), null);
    }

    // Accepts both "--flag value" and "--flag=value".
    private static (string Flag, string? Value, int Next) FlagValue(IReadOnlyList<string> args, int i)
    {
        var arg = args[i];
        var eq = arg.IndexOf('=', StringComparison.Ordinal);
        if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
        {
            return (arg[..eq], arg[(eq + 1)..], i);
        }

        return (arg, i + 1 < args.Count ? args[i + 1] : null, i + 1);
    }
}
