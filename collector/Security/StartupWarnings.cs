using System.Net;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Security;

/// <summary>
/// Open doors on a network: without keys Vigil stays open, as it was for loopback demos, but says so
/// at start when a listener is reachable from other machines.
/// </summary>
public static class StartupWarnings
{
    public static IReadOnlyList<string> For(VigilOptions options)
    {
        var warnings = new List<string>();
        var otlp = new[] { options.OtlpGrpc, options.OtlpHttp }.Where(e => !IPAddress.IsLoopback(e.Address)).ToList();
        if (options.Auth.IngestKeys.Count == 0 && otlp.Count > 0)
        {
            warnings.Add($"OTLP on {string.Join(", ", otlp)} accepts points for any tenant from anyone: auth.ingest_keys is empty (docs/security.md)");
        }

        if (!IPAddress.IsLoopback(options.Http.Address))
        {
            if (options.Auth.ReadKeys.Count == 0)
            {
                warnings.Add($"the API on {options.Http} answers every tenant's series and alerts without a key: auth.read_keys is empty (docs/security.md)");
            }

            if (options.AdminToken is null)
            {
                warnings.Add($"the API on {options.Http} runs admin calls (POST /-/reload) for anyone: server.admin_token is not set (docs/security.md)");
            }
        }

        // Keys and tokens are bearer secrets: off loopback without TLS, anyone on the path can reuse them.
        var exposed = new[] { options.OtlpGrpc, options.OtlpHttp, options.Http }.Where(e => !IPAddress.IsLoopback(e.Address)).ToList();
        var secrets = options.Auth.IngestKeys.Count > 0 || options.Auth.ReadKeys.Count > 0 || options.AdminToken is not null;
        if (!options.Tls.Enabled && secrets && exposed.Count > 0)
        {
            warnings.Add($"keys and the admin token cross the network in clear text on {string.Join(", ", exposed)}: server.tls is not set (docs/security.md)");
        }

        return warnings;
    }
}
