using System.Net;
using System.Net.Http.Headers;
using System.Reflection;

namespace Vigil.RemoteWrite;

/// <summary>How one send ended. <see cref="Retryable"/>: 5xx, 429, a timeout or no connection; anything else that is not 2xx is final.</summary>
internal readonly record struct SendOutcome(bool Success, bool Retryable, TimeSpan? RetryAfter, string Message)
{
    public static readonly SendOutcome Delivered = new(true, false, null, "ok");
}

/// <summary>POSTs remote write 1.0 bodies: snappy protobuf with the protocol's headers, the configured headers and bearer token.</summary>
internal sealed class RemoteWriteClient : IDisposable
{
    private static readonly string UserAgent =
        "Vigil/" + (typeof(RemoteWriteClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0");

    private readonly RemoteWriteOptions _options;
    private readonly HttpClient _http;
    private readonly Uri _url;

    public RemoteWriteClient(RemoteWriteOptions options, HttpMessageHandler? handler = null)
    {
        _options = options;
        _url = new Uri(options.Url);
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.Timeout = Timeout.InfiniteTimeSpan; // per request below, so a shutdown and a timeout stay apart
    }

    public async Task<SendOutcome> SendAsync(byte[] body, TimeProvider time, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        request.Content.Headers.ContentEncoding.Add("snappy");
        request.Headers.TryAddWithoutValidation("X-Prometheus-Remote-Write-Version", "0.1.0");
        request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        if (_options.BearerToken.Length > 0)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.BearerToken);
        }

        foreach (var (name, value) in _options.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                return SendOutcome.Delivered;
            }

            var text = await ReadExcerptAsync(response, timeout.Token);
            var message = $"HTTP {status}: {text}";
            var retryable = status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests;
            return new SendOutcome(false, retryable, retryable ? RetryAfter(response, time) : null, message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendOutcome(false, true, null, $"no answer within {_options.Timeout.TotalSeconds:0.###}s");
        }
        catch (HttpRequestException e)
        {
            return new SendOutcome(false, true, null, e.Message);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Retry-After as seconds or as an HTTP date.</summary>
    private static TimeSpan? RetryAfter(HttpResponseMessage response, TimeProvider time)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    private static async Task<string> ReadExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            text = text.ReplaceLineEndings(" ").Trim();
            return text.Length > 256 ? text[..256] + "…" : text;
        }
        catch (HttpRequestException)
        {
            return string.Empty;
        }
    }
}
