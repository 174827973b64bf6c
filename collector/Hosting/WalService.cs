using Vigil.Collector.Configuration;
using Vigil.Storage;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Wal;

namespace Vigil.Collector;

/// <summary>
/// Owns the write-ahead log and the window-store checkpoints. At start it loads the newest checkpoint
/// that validates and replays the WAL written after it (OTLP requests get a retryable UNAVAILABLE
/// meanwhile and /readyz says "starting"); then it logs every accepted request before it is applied
/// and acknowledged, and every <c>wal.checkpoint_interval</c> (and at graceful shutdown) writes a new
/// checkpoint and deletes the WAL segments it covers. While the WAL cannot write (a full disk) OTLP
/// requests are refused as retryable and /readyz is not ready, with the reason, until a probe write
/// succeeds (decision 005). With <c>wal.enabled: false</c> appends are no-ops and no checkpoint is read
/// or written.
/// </summary>
public sealed class WalService : BackgroundService
{
    public const string ReadinessPart = "wal";

    private readonly WriteAheadLog? _wal;
    private readonly CheckpointFiles _checkpoints;
    private readonly TimeSpan _checkpointInterval;
    private readonly IngestBarrier _barrier = new();
    private readonly SemaphoreSlim _checkpointing = new(1, 1);
    private readonly OtlpIngest _ingest;
    private readonly Readiness _readiness;
    private readonly TimeProvider _time;
    private readonly ILogger<WalService> _logger;
    private volatile bool _replaying = true;
    private volatile bool _recovered;
    private readonly Lock _readinessLock = new();
    private bool _serving;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _checkpointedRecords = -1;

    /// <param name="files">The WAL's file layer; tests pass one that can fill the disk.</param>
    public WalService(VigilOptions options, OtlpIngest ingest, Readiness readiness, TimeProvider time, ILogger<WalService> logger, IWalFiles? files = null)
    {
        _ingest = ingest;
        _readiness = readiness;
        _time = time;
        _logger = logger;
        _checkpoints = new CheckpointFiles(Path.Combine(options.DataDir, "checkpoints"));
        _checkpointInterval = options.Wal.CheckpointInterval;
        if (options.Wal.Enabled)
        {
            _wal = new WriteAheadLog(Path.Combine(options.DataDir, "wal"), options.Wal, options.Storage.Retention, time, logger, files);
            _wal.AvailabilityChanged += OnAvailabilityChanged;
        }

        readiness.Require(ReadinessPart);
    }

    public bool Replaying => _replaying;

    /// <summary>Why the WAL refuses requests right now (it cannot write), or null.</summary>
    public string? Unavailable => _wal?.Unavailable;

    /// <summary>Completes when the store holds everything acknowledged before this start (replay done).</summary>
    public Task Ready => _ready.Task;

    public WriteAheadLog? Log => _wal;

    public CheckpointFiles Checkpoints => _checkpoints;

    /// <summary>What the start-up recovery did; null until it finished (or with the WAL off).</summary>
    public RecoveryStats? Recovery { get; private set; }

    /// <summary>
    /// Held by a request from before its WAL append until after it is applied (<see cref="ExitIngest"/>),
    /// so a checkpoint never sees a logged but unapplied request. Completes synchronously unless a
    /// checkpoint is being taken.
    /// </summary>
    public ValueTask EnterIngestAsync(CancellationToken cancellationToken) => _barrier.EnterSharedAsync(cancellationToken);

    public void ExitIngest() => _barrier.ExitShared();

    /// <summary>
    /// Completes once the request is durable (immediately with the WAL off). A tenant binding is logged
    /// in front of it, so replay stamps and refuses the same points the live request did.
    /// </summary>
    public Task AppendAsync(ReadOnlyMemory<byte> request, TenantBinding? binding, CancellationToken cancellationToken) =>
        _wal is null ? Task.CompletedTask : _wal.AppendAsync(binding?.WalPrefix ?? ReadOnlyMemory<byte>.Empty, request, cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Run(Recover, stoppingToken);
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
            throw;
        }

        _replaying = false;
        lock (_readinessLock)
        {
            _serving = true;
        }

        OnAvailabilityChanged();
        _ready.TrySetResult();
        if (_wal is null)
        {
            return;
        }

        using var timer = new PeriodicTimer(_checkpointInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (_wal.Unavailable is null)
            {
                await TryCheckpointAsync("periodic", stoppingToken);
            }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_wal is not null)
        {
            // A checkpoint at shutdown makes the next start replay (almost) nothing. Not while the WAL
            // cannot write (it would fail anyway), and never past the host's shutdown timeout.
            if (_recovered && _wal.Unavailable is null)
            {
                await TryCheckpointAsync("shutdown", cancellationToken);
            }

            await _wal.DisposeAsync();
        }
    }

    /// <summary>
    /// Takes a checkpoint now: waits for in-flight requests and holds new ones back (the ingest
    /// barrier) while the WAL rotates to segment N and the store is serialized into memory, then
    /// writes <c>checkpoints/checkpoint-N.bin</c> durably, then keeps it and the previous checkpoint P
    /// and deletes older checkpoints and the WAL segments below P. Returns null when nothing was logged since the last checkpoint (or the WAL is off).
    /// </summary>
    public async Task<CheckpointInfo?> CheckpointNowAsync(CancellationToken cancellationToken = default)
    {
        if (_wal is null)
        {
            return null;
        }

        await _checkpointing.WaitAsync(cancellationToken);
        try
        {
            if (!_recovered)
            {
                throw new InvalidOperationException("no checkpoint before the start-up recovery has finished: the store is incomplete");
            }

            var started = _time.GetTimestamp();
            CheckpointImage image;
            long records;
            await _barrier.EnterExclusiveAsync(cancellationToken);
            try
            {
                records = _wal.AppendedRecords;
                if (records == _checkpointedRecords)
                {
                    return null;
                }

                var segment = await _wal.RotateAsync();
                image = _ingest.Store.CaptureCheckpoint(segment);
            }
            finally
            {
                _barrier.ExitExclusive();
            }

            var paused = _time.GetElapsedTime(started);
            var path = await _checkpoints.WriteAsync(image, CancellationToken.None);
            var info = image.Info;
            _checkpointedRecords = records;
            // Keep the previous checkpoint and the segments from it on: if the new file rots on disk later,
            // start-up falls back to the previous one and replays from there, losing nothing.
            var previous = _checkpoints.List().Select(c => c.WalSegment).Where(n => n < info.WalSegment).DefaultIfEmpty(info.WalSegment).Max();
            var oldCheckpoints = _checkpoints.DeleteOlderThan(previous);
            var oldSegments = _wal.DeleteSegmentsBelow(previous);
            _logger.LogInformation(
                "Checkpoint {File}: {Series} series of {Metrics} metric(s), {Bytes} bytes; ingest paused {Paused:F0} ms, {Total:F0} ms in all; deleted {Segments} WAL segment(s) and {Checkpoints} older checkpoint(s)",
                Path.GetFileName(path), info.Series, info.Metrics, info.Bytes, paused.TotalMilliseconds, _time.GetElapsedTime(started).TotalMilliseconds, oldSegments, oldCheckpoints);
            return info;
        }
        finally
        {
            _checkpointing.Release();
        }
    }

    private async Task TryCheckpointAsync(string reason, CancellationToken cancellationToken = default)
    {
        try
        {
            await CheckpointNowAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("The {Reason} checkpoint did not finish in time; the WAL keeps every segment since the last good one", reason);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or WalUnavailableException or InvalidOperationException)
        {
            // The WAL still holds everything since the last good checkpoint: nothing is lost, start-up just replays more.
            _logger.LogError(e, "The {Reason} checkpoint failed; the WAL keeps every segment since the last good one", reason);
        }
    }

    private void Recover()
    {
        if (_wal is null)
        {
            return;
        }

        var started = _time.GetTimestamp();
        var store = _ingest.Store;
        _checkpoints.DeleteIncomplete();
        var checkpoint = LoadNewestCheckpoint(store);
        var loaded = _time.GetElapsedTime(started);

        long points = 0;

        // The WAL skips (and logs, with segment and offset) a record whose apply throws: a record that
        // cannot be applied is damage to report, never a reason not to start.
        var replay = _wal.Replay(record => points += _ingest.ApplyLogged(record).Accepted, checkpoint?.WalSegment ?? 0);
        var records = replay.Records;
        if (replay.Since is { } first)
        {
            // Everything since the oldest replayed record has been seen: cumulative runs that started
            // after it count fully again after a restart. A checkpoint brought its own (earlier) value.
            store.KnownSinceUnixNano = Math.Min(store.KnownSinceUnixNano, WindowStore.ToUnixNano(first));
        }

        var elapsed = _time.GetElapsedTime(started);
        Recovery = new RecoveryStats(checkpoint, store.SeriesCount, records, points, loaded, elapsed, replay);
        _logger.LogInformation(
            "Start-up recovery: {Checkpoint} ({Series} series, {Loaded:F1}s), then {Records} WAL request(s) with {Points} point(s) replayed from segment {From}; {Elapsed:F1}s in all",
            checkpoint is null ? "no checkpoint" : $"checkpoint {checkpoint.WalSegment} loaded",
            checkpoint?.Series ?? 0, loaded.TotalSeconds, records, points, checkpoint?.WalSegment ?? 0, elapsed.TotalSeconds);
        if (replay.SkippedRecords > 0)
        {
            _logger.LogWarning(
                "Start-up recovery skipped WAL data: {Damaged} damaged region(s) ({Bytes} bytes), {Unapplied} record(s) that could not be applied, {Unreadable} unreadable segment(s); the warnings above name each segment and offset",
                replay.DamagedRecords, replay.DamagedBytes, replay.UnappliedRecords, replay.UnreadableSegments);
        }
        _checkpointedRecords = checkpoint is not null && records == 0 ? 0 : -1;
        _recovered = true;
        _wal.Start();
    }

    /// <summary>
    /// Readiness follows the WAL once replay is done. Each call reads the current state under the lock,
    /// so a change raised by the writer while start-up marks the part can never leave a stale answer.
    /// </summary>
    private void OnAvailabilityChanged()
    {
        lock (_readinessLock)
        {
            if (!_serving)
            {
                return;
            }

            if (_wal?.Unavailable is { } reason)
            {
                _readiness.MarkNotReady(ReadinessPart, reason);
            }
            else
            {
                _readiness.MarkReady(ReadinessPart);
            }
        }
    }

    /// <summary>The newest checkpoint that loads; unusable ones are moved aside with a warning.</summary>
    private CheckpointInfo? LoadNewestCheckpoint(WindowStore store)
    {
        var candidates = _checkpoints.List();
        for (var i = 0; i < candidates.Count; i++)
        {
            var (segment, path) = candidates[i];
            var fallback = i + 1 < candidates.Count
                ? $"the previous checkpoint {Path.GetFileName(candidates[i + 1].Path)}"
                : "a replay of the WAL segments that are left; data only in the segments this checkpoint replaced is lost";
            try
            {
                CheckpointInfo info;
                using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16))
                {
                    info = store.LoadCheckpoint(file);
                }

                if (info.WalSegment != segment)
                {
                    _logger.LogWarning("Checkpoint {File} was renamed: it covers the WAL below segment {Inside}, its name says {Name}; going by its content", Path.GetFileName(path), info.WalSegment, segment);
                }

                return info;
            }
            catch (CheckpointException e)
            {
                var aside = _checkpoints.MoveAside(path, e is CheckpointCorruptException ? ".corrupt" : ".unusable");
                _logger.LogWarning("Checkpoint {File} cannot be loaded ({Problem}); moved aside as {Aside}. Falling back to {Fallback}", Path.GetFileName(path), e.Message, Path.GetFileName(aside), fallback);
            }
            catch (IOException e)
            {
                _logger.LogWarning("Checkpoint {File} cannot be read ({Problem}). Falling back to {Fallback}", Path.GetFileName(path), e.Message, fallback);
            }
        }

        return null;
    }
}

/// <summary>Start-up recovery: the checkpoint loaded (if any), then the WAL tail replayed after it (and what replay had to skip).</summary>
public sealed record RecoveryStats(CheckpointInfo? Checkpoint, int Series, long RecordsReplayed, long PointsReplayed, TimeSpan CheckpointLoad, TimeSpan Elapsed, WalReplayResult Replay);
