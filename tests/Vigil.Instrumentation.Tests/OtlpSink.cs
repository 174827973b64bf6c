using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Vigil.Instrumentation.Tests;

/// <summary>One OTLP/HTTP export request as it arrived.</summary>
internal sealed record OtlpRequest(string Path, string? ContentType, byte[] Body)
{
    public bool Mentions(string text) => Body.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(text)) >= 0;
}

/// <summary>Kestrel on 127.0.0.1:0 answering POST /v1/metrics with 200 and an empty protobuf body.</summary>
internal sealed class OtlpSink : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<OtlpRequest> _requests = Channel.CreateUnbounded<OtlpRequest>();

    private OtlpSink(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    public static async Task<OtlpSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var sink = new OtlpSink(app);
        app.MapPost("/v1/metrics", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            await sink._requests.Writer.WriteAsync(new OtlpRequest(context.Request.Path, context.Request.ContentType, buffer.ToArray()), context.RequestAborted);
            context.Response.ContentType = "application/x-protobuf";
            return Results.Empty;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        sink.BaseAddress = new Uri(address);
        return sink;
    }

    /// <summary>The first request whose body mentions <paramref name="text"/>; fails after <paramref name="timeout"/>.</summary>
    public async Task<OtlpRequest> WaitForAsync(string text, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        await foreach (var request in _requests.Reader.ReadAllAsync(cancellation.Token))
        {
            if (request.Mentions(text))
            {
                return request;
            }
        }

        throw new InvalidOperationException("unreachable: the channel is never completed");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
