using System.Globalization;
using System.Text;

namespace Vigil.Alerting.Implementation;

internal static class HttpDelivery
{
    /// <summary>Sends <paramref name="request"/> within <paramref name="timeout"/>; anything but 2xx throws with the status and the start of the body.</summary>
    public static async Task SendAsync(HttpClient http, HttpRequestMessage request, TimeSpan timeout, string receiver, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AlertDeliveryException($"{receiver}: no answer from {request.RequestUri} within {timeout.TotalSeconds:0.###}s", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new AlertDeliveryException($"{receiver}: {request.Method} {request.RequestUri} failed: {ex.Message}", ex);
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            string detail;
            try
            {
                detail = await response.Content.ReadAsStringAsync(cts.Token);
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                detail = string.Empty;
            }

            detail = detail.Length > 300 ? detail[..300] + "…" : detail;
            throw new AlertDeliveryException(string.Create(CultureInfo.InvariantCulture,
                $"{receiver}: {request.Method} {request.RequestUri} answered {(int)response.StatusCode} {response.ReasonPhrase}{(detail.Length > 0 ? ": " + detail.Trim() : string.Empty)}"));
        }
    }

    public static string Rfc3339(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A Prometheus-legal name ([a-zA-Z_][a-zA-Z0-9_]*): other characters become '_', as Prometheus translates OTel names.</summary>
    public static string PrometheusName(string name)
    {
        if (name.Length == 0)
        {
            return "_";
        }

        var sb = new StringBuilder(name.Length + 1);
        if (char.IsAsciiDigit(name[0]))
        {
            sb.Append('_');
        }

        foreach (var c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        return sb.ToString();
    }

    public static SortedDictionary<string, string> PrometheusNames(IReadOnlyDictionary<string, string> labels)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in labels.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // A legal name wins over one translated to it (tenant_id over tenant.id): the original label is kept verbatim.
            var legal = PrometheusName(name);
            if (legal == name || !result.ContainsKey(legal))
            {
                result[legal] = value;
            }
        }

        return result;
    }
}
