using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Tests;
using Vigil.Otlp.Proto.Collector;
using Vigil.Tests.Shared;

namespace Vigil.Differential.Tests;

/// <summary>
/// The data set in both systems, once per test class: a real Prometheus on its backfilled TSDB, and Vigil on a fake
/// clock fed over OTLP/HTTP. Both listen on 127.0.0.1 and are stopped, and their directory removed, on dispose.
/// </summary>
public sealed class DifferentialFixture : IAsyncLifetime
{
    private readonly string _dir = RealPrometheus.NewDirectory("vigil-differential-");
    private RealPrometheus? _prometheus;
    private VigilServer? _vigil;

    internal DataSet Data { get; } = DataSet.Generate();

    public HttpClient Prometheus => _prometheus!.Http;

    public HttpClient Vigil { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var openMetrics = Path.Combine(_dir, "data.om");
        await File.WriteAllTextAsync(openMetrics, Data.ToOpenMetrics());
        var tsdb = Path.Combine(_dir, "tsdb");
        await RealPrometheus.BackfillAsync(openMetrics, tsdb);
        _prometheus = await RealPrometheus.StartAsync("scrape_configs: []\n", tsdb);

        var clock = new FakeTimeProvider(DataSet.Start);
        // No rule packs: nothing but the queries reads the store.
        var rules = Directory.CreateDirectory(Path.Combine(_dir, "rules")).FullName;
        _vigil = await VigilServer.StartAsync(options => options with { RulesDir = rules, Storage = options.Storage with { ResourceAttributes = DataSet.ResourceAttributes } }, clock);
        Vigil = new HttpClient { BaseAddress = _vigil.HttpUri };
        await LoadAsync(_vigil, clock);
    }

    public async Task DisposeAsync()
    {
        Vigil?.Dispose();
        if (_vigil is not null)
        {
            await _vigil.DisposeAsync();
        }

        if (_prometheus is not null)
        {
            await _prometheus.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>One OTLP request per step, stamped on the bucket grid, as the clock advances to it.</summary>
    private async Task LoadAsync(VigilServer vigil, FakeTimeProvider clock)
    {
        using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        for (var step = 0; step < DataSet.Steps; step++)
        {
            clock.SetUtcNow(DataSet.At(step));
            using var content = new ByteArrayContent(Data.Request(step).ToByteArray());
            content.Headers.ContentType = new("application/x-protobuf");
            using var response = await otlp.PostAsync("/v1/metrics", content);
            var body = await response.Content.ReadAsByteArrayAsync();
            Assert.True(response.IsSuccessStatusCode, $"step {step}: {(int)response.StatusCode}");
            var partial = ExportMetricsServiceResponse.Parser.ParseFrom(body).PartialSuccess;
            Assert.True(partial is null || partial.RejectedDataPoints == 0, $"step {step}: {partial?.RejectedDataPoints} points refused: {partial?.ErrorMessage}");
        }
    }
}
