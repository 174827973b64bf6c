using Vigil.Collector.Configuration;
using Vigil.Storage;
using Vigil.Storage.Wal;

namespace Vigil.Collector;

/// <summary>
/// Owns the write-ahead log: replays it into the window store at start (OTLP requests get a retryable
/// UNAVAILABLE meanwhile and /readyz says "starting"), then logs every accepted request before it is
/// applied and acknowledged. With <c>wal.enabled: false</c> appends are no-ops.
/// </summary>
public sealed class WalService : BackgroundService
{
    public const string ReadinessPart = "wal";

    private readonly WriteAheadLog? _wal;
    private readonly OtlpIngest _ingest;
    private readonly Readiness _readiness;
    private readonly TimeProvider _time;
    private readonly ILogger<WalService> _logger;
    private volatile bool _replaying = true;

    public WalService(VigilOptions options, OtlpIngest ingest, Readiness readiness, TimeProvider time, ILogger<WalService> logger)
    {
        _ingest = ingest;
        _readiness = readiness;
        _time = time;
        _logger = logger;
        if (options.Wal.Enabled)
        {
            _wal = new WriteAheadLog(Path.Combine(options.DataDir, "wal"), options.Wal, options.Storage.Retention, time, logger);
        }

        readiness.Require(ReadinessPart);
    }

    public bool Replaying => _replaying;

    public WriteAheadLog? Log => _wal;

    /// <summary>Completes once the request is durable (immediately with the WAL off).</summary>
    public Task AppendAsync(ReadOnlyMemory<byte> request, CancellationToken cancellationToken) =>
        _wal is null ? Task.CompletedTask : _wal.AppendAsync(request, cancellationToken);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(
        () =>
        {
            if (_wal is not null)
            {
                var started = _time.GetTimestamp();
                long points = 0;
                var (records, since) = _wal.Replay(record =>
                {
                    try
                    {
                        points += _ingest.Apply(record).Accepted;
                    }
                    catch (Vigil.Otlp.Wire.OtlpFormatException e)
                    {
                        // Only checked requests are logged, so this means the file was damaged in a way the CRC missed.
                        _logger.LogWarning("WAL record skipped: {Problem}", e.Message);
                    }
                });
                if (since is { } first)
                {
                    // Everything since the oldest retained record has been seen: cumulative runs that
                    // started after it count fully again after a restart.
                    var knownSince = WindowStore.ToUnixNano(first);
                    _ingest.Store.KnownSinceUnixNano = Math.Min(_ingest.Store.KnownSinceUnixNano, knownSince);
                }

                _logger.LogInformation(
                    "WAL replayed: {Records} request(s), {Points} point(s) in {Elapsed:F1}s",
                    records, points, _time.GetElapsedTime(started).TotalSeconds);
                _wal.Start();
            }

            _replaying = false;
            _readiness.MarkReady(ReadinessPart);
        },
        stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_wal is not null)
        {
            await _wal.DisposeAsync();
        }
    }
}
