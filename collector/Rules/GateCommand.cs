using System.Net;
using System.Text.Json;
using Vigil.Alerting;

namespace Vigil.Collector.Rules;

/// <summary>
/// <c>vigil gate --server URL --severity P1 [--match L=V]... --quiet-for 10m [--token T]</c>: asks
/// <c>GET /api/v1/gate</c> whether a release may go, for a deploy pipeline. Prints the reason and the blocking alerts;
/// exit 0 pass, 1 blocked, 2 usage or no answer.
/// </summary>
public static class GateCommand
{
    private const string Usage = "usage: vigil gate --server http://127.0.0.1:9190 [--severity P1] [--match L=V]... [--quiet-for 10m] [--token T]   (token also from VIGIL_TOKEN)";

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        if (!ApiClient.TryParse(args, ["--server", "--severity", "--match", "--quiet-for", "--token"], out var positional, out var options, out var problem) || positional.Count > 0)
        {
            error.WriteLine($"vigil gate: {problem ?? $"unexpected argument '{positional[0]}'"}");
            error.WriteLine(Usage);
            return 2;
        }

        var (server, token) = (ApiClient.Last(options, "--server"), ApiClient.Last(options, "--token"));
        var query = new List<string>();
        foreach (var (option, parameter) in new[] { ("--severity", "severity"), ("--match", "match"), ("--quiet-for", "quiet_for") })
        {
            query.AddRange(options.GetValueOrDefault(option, []).Select(v => parameter + "=" + Uri.EscapeDataString(v)));
        }

        if (ApiClient.Server(server) is not { } uri)
        {
            error.WriteLine("vigil gate: --server needs an http(s) URL");
            error.WriteLine(Usage);
            return 2;
        }

        using var client = ApiClient.Create(uri, token);
        try
        {
            using var response = await client.GetAsync("/api/v1/gate?" + string.Join('&', query), cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.Conflict))
            {
                foreach (var line in ApiClient.Errors(body))
                {
                    error.WriteLine($"vigil gate: {(int)response.StatusCode}: {line}");
                }

                return 2;
            }

            var verdict = JsonSerializer.Deserialize<GateVerdict>(body);
            if (verdict is null)
            {
                error.WriteLine($"vigil gate: {uri} answered without a verdict");
                return 2;
            }

            output.WriteLine(verdict.Reason);
            foreach (var b in verdict.Blocking)
            {
                var name = b.Labels.TryGetValue("alertname", out var n) ? n : "?";
                var labels = string.Join(", ", b.Labels.Where(l => l.Key is not ("alertname" or "severity")).Select(l => $"{l.Key}={l.Value}"));
                var when = b.State == "firing" ? $"firing since {b.Since:O}" : $"resolved at {b.ResolvedAt:O}";
                output.WriteLine($"  {b.Severity} {name} {{{labels}}} {when}{(b.RunbookUrl is null ? string.Empty : " " + b.RunbookUrl)}");
            }

            return verdict.Pass ? 0 : 1;
        }
        catch (HttpRequestException e)
        {
            error.WriteLine($"vigil gate: no answer from {uri}: {e.Message}");
            return 2;
        }
        catch (JsonException e)
        {
            error.WriteLine($"vigil gate: {uri} answered something that is not a gate verdict: {e.Message}");
            return 2;
        }
    }
}
