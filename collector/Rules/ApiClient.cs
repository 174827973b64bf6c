using System.Net.Http.Headers;
using System.Text.Json;

namespace Vigil.Collector.Rules;

/// <summary>
/// What the CLI verbs that ask a running Vigil share: <c>--server URL</c> and <c>--token T</c> (or
/// <c>VIGIL_TOKEN</c>, so the token stays out of the process list), one HTTP client, Prometheus' error shape read back.
/// </summary>
internal static class ApiClient
{
    public const string TokenVariable = "VIGIL_TOKEN";

    public static HttpClient Create(Uri server, string? token)
    {
        var client = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromMinutes(5) };
        token ??= Environment.GetEnvironmentVariable(TokenVariable);
        if (!string.IsNullOrEmpty(token))
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>
    /// Splits <c>--name value</c> options (each of <paramref name="names"/>, repeatable) from positional arguments;
    /// false with the reason for an unknown option or one without its value.
    /// </summary>
    public static bool TryParse(string[] args, string[] names, out List<string> positional, out Dictionary<string, List<string>> options, out string? error)
    {
        positional = [];
        options = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        error = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(args[i]);
                continue;
            }

            if (!names.Contains(args[i]) || i + 1 >= args.Length)
            {
                error = names.Contains(args[i]) ? $"option '{args[i]}' needs a value" : $"unknown option '{args[i]}'";
                return false;
            }

            if (!options.TryGetValue(args[i], out var values))
            {
                options[args[i]] = values = [];
            }

            values.Add(args[++i]);
        }

        return true;
    }

    /// <summary>The last value given for an option, or null.</summary>
    public static string? Last(Dictionary<string, List<string>> options, string name) =>
        options.TryGetValue(name, out var values) ? values[^1] : null;

    /// <summary>An absolute http(s) URL, or null.</summary>
    public static Uri? Server(string? text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : null;

    /// <summary>The <c>error</c> (and <c>problems</c>, one per line) of an error answer, or its raw text.</summary>
    public static IReadOnlyList<string> Errors(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.TryGetProperty("problems", out var problems) && problems.ValueKind == JsonValueKind.Array)
            {
                return [.. problems.EnumerateArray().Select(p => p.GetString() ?? string.Empty)];
            }

            if (root.TryGetProperty("error", out var error))
            {
                return [error.GetString() ?? string.Empty];
            }
        }
        catch (JsonException)
        {
        }

        return [body.Trim()];
    }
}
