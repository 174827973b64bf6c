using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Vigil.Rules;
using Vigil.Rules.Backtest;

namespace Vigil.Collector.Rules;

/// <summary>
/// <c>vigil rules backtest FILE... --server URL [--from T] [--to T] [--token T]</c>: sends each rule file to
/// <c>POST /api/v1/rules/backtest</c> and prints, per rule and instance, when it went pending, fired and resolved and
/// for how long, then a summary line per rule. Exit 0 replayed, 1 a file with problems or a refused replay, 2 usage
/// or no answer.
/// </summary>
public static class BacktestCommand
{
    private const string Usage = "usage: vigil rules backtest FILE... --server http://127.0.0.1:9190 [--from T] [--to T] [--token T]   (T: RFC 3339 or unix seconds; token also from VIGIL_TOKEN)";

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        if (!ApiClient.TryParse(args, ["--server", "--from", "--to", "--token"], out var files, out var options, out var problem))
        {
            error.WriteLine($"vigil rules backtest: {problem}");
            error.WriteLine(Usage);
            return 2;
        }

        var (server, from, to, token) = (ApiClient.Last(options, "--server"), ApiClient.Last(options, "--from"), ApiClient.Last(options, "--to"), ApiClient.Last(options, "--token"));
        if (files.Count == 0 || ApiClient.Server(server) is not { } uri)
        {
            error.WriteLine(files.Count == 0 ? "vigil rules backtest: name at least one rule file" : "vigil rules backtest: --server needs an http(s) URL");
            error.WriteLine(Usage);
            return 2;
        }

        using var client = ApiClient.Create(uri, token);
        var exit = 0;
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                output.WriteLine($"{file}:1:1: no such file");
                exit = Math.Max(exit, 1);
                continue;
            }

            var query = $"/api/v1/rules/backtest?file={Uri.EscapeDataString(file)}" +
                (from is null ? string.Empty : $"&from={Uri.EscapeDataString(from)}") +
                (to is null ? string.Empty : $"&to={Uri.EscapeDataString(to)}");
            using var content = new StringContent(await File.ReadAllTextAsync(file, cancellationToken), Encoding.UTF8, "application/yaml");
            HttpResponseMessage response;
            try
            {
                response = await client.PostAsync(query, content, cancellationToken);
            }
            catch (HttpRequestException e)
            {
                error.WriteLine($"vigil rules backtest: no answer from {uri}: {e.Message}");
                return 2;
            }

            using (response)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    foreach (var line in ApiClient.Errors(body))
                    {
                        // The server names the file by its base name; problems read as `rules check` prints them.
                        output.WriteLine(line.StartsWith(Path.GetFileName(file) + ":", StringComparison.Ordinal) ? Path.Combine(Path.GetDirectoryName(file) ?? string.Empty, line) : $"{file}: {line}");
                    }

                    exit = Math.Max(exit, response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.RequestEntityTooLarge ? 1 : 2);
                    continue;
                }

                var result = JsonSerializer.Deserialize<Envelope>(body)?.Data;
                if (result is null)
                {
                    error.WriteLine($"vigil rules backtest: {uri} answered without data");
                    return 2;
                }

                Render(result, output);
            }
        }

        return exit;
    }

    /// <summary>
    /// The timeline table of every rule and instance, then one summary line per rule:
    /// <c>AuthFailureRateHigh: 3 instances, fired 2 times, 14m firing in 1h</c>.
    /// </summary>
    public static void Render(BacktestResult result, TextWriter output)
    {
        // Whole seconds: `to` defaults to now, which has milliseconds nobody wants to read.
        static string Seconds(TimeSpan t) => PromDuration.Format(TimeSpan.FromSeconds(Math.Round(t.TotalSeconds)));
        var span = result.To - result.From;
        var oneDay = result.From.UtcDateTime.Date == result.To.UtcDateTime.Date;
        string When(DateTimeOffset t) => t.UtcDateTime.ToString(oneDay ? "HH:mm:ss" : "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

        foreach (var rule in result.Rules)
        {
            output.WriteLine($"{rule.Group}/{rule.Alert}: {rule.Evaluations} evaluations, {When(result.From)} to {When(result.To)} UTC");
            if (rule.Error is not null)
            {
                output.WriteLine($"  error: {rule.Error}");
            }

            var fired = 0;
            var firing = TimeSpan.Zero;
            foreach (var instance in rule.Instances)
            {
                output.WriteLine($"  {LabelSet.Key(instance.Labels)}");
                for (var i = 0; i < instance.Transitions.Count; i++)
                {
                    var t = instance.Transitions[i];
                    var until = i + 1 < instance.Transitions.Count ? instance.Transitions[i + 1].At : result.To;
                    var lasted = until - t.At;
                    var still = i + 1 == instance.Transitions.Count && t.To is "pending" or "firing";
                    output.WriteLine($"    {t.To,-9} {When(t.At)}  {(t.To is "pending" or "firing" ? Seconds(lasted) + (still ? "+" : string.Empty) : string.Empty),-9} {Value(t.Value)}");
                    if (t.To == "firing")
                    {
                        fired++;
                        firing += lasted;
                    }
                }
            }

            output.WriteLine($"{rule.Alert}: {rule.Instances.Count} instance{(rule.Instances.Count == 1 ? string.Empty : "s")}, fired {(fired == 1 ? "1 time" : $"{fired} times")}, " +
                $"{Seconds(firing)} firing in {Seconds(span)}");
        }
    }

    private static string Value(double? value) => value is { } v ? "value " + AlertTemplate.FormatNumber(v) : "no data";

    private sealed record Envelope([property: System.Text.Json.Serialization.JsonPropertyName("data")] BacktestResult? Data);
}
