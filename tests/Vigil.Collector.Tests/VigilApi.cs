using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace Vigil.Collector.Tests;

/// <summary>A thin client for Vigil's API as a user would call it.</summary>
public sealed class VigilApi(Uri baseUri, HttpMessageHandler? handler = null) : IDisposable
{
    private readonly HttpClient _http = handler is null ? new() { BaseAddress = baseUri } : new(handler) { BaseAddress = baseUri };

    public sealed record Sample(Dictionary<string, string> Labels, double Value, double Samples);

    public async Task<List<Sample>> AggregateAsync(string metric, string fn, string window = "5m", string? by = null, string[]? match = null, double? q = null)
    {
        var url = $"/api/v1/aggregate?metric={Uri.EscapeDataString(metric)}&fn={fn}&window={window}";
        if (by is not null)
        {
            url += "&by=" + Uri.EscapeDataString(by);
        }

        foreach (var m in match ?? [])
        {
            url += "&match=" + Uri.EscapeDataString(m);
        }

        if (q is not null)
        {
            url += "&q=" + q.Value.ToString(CultureInfo.InvariantCulture);
        }

        using var response = await _http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{(int)response.StatusCode}: {body}");
        }

        using var document = JsonDocument.Parse(body);
        var samples = new List<Sample>();
        foreach (var item in document.RootElement.GetProperty("data").EnumerateArray())
        {
            var labels = item.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            samples.Add(new Sample(labels, item.GetProperty("value").GetDouble(), item.GetProperty("samples").GetDouble()));
        }

        return samples;
    }

    public async Task<double> ValueAsync(string metric, string fn, string window = "5m", string[]? match = null, double? q = null)
    {
        var samples = await AggregateAsync(metric, fn, window, by: null, match, q);
        Assert.Single(samples);
        return samples[0].Value;
    }

    public Task<HttpResponseMessage> GetAsync(string url) => _http.GetAsync(url);

    public async Task<JsonElement> GetJsonAsync(string url) => await _http.GetFromJsonAsync<JsonElement>(url);

    public void Dispose() => _http.Dispose();
}
