using Microsoft.Extensions.Logging;
using Vigil.Otlp.Wire;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Wal;

namespace Vigil.Storage.Durability;

/// <summary>
/// Durable ingest over a <see cref="WindowStore"/>: check → WAL append → apply for every request, the
/// start-up recovery (newest valid checkpoint, then the WAL written after it) and the checkpoints that
/// bound it. Nothing acknowledged is lost: a request is logged before it is applied and acknowledged,
/// and a checkpoint matches one WAL position exactly. A checkpoint only holds ingest back while it
/// rotates the WAL and cuts the store (no series is touched then); the image is then streamed to its
/// file beside ingest, with copy-on-write for the series ingest reaches first (decision 024). With
/// <see cref="WalOptions.Enabled"/> false appends are skipped and no checkpoint is read or written.
/// </summary>
public sealed class DurableIngest : IMetricSink, IAsyncDisposable
{
    private readonly OtlpIngest _ingest;
    private readonly WriteAheadLog? _wal;
    private readonly TimeSpan _checkpointInterval;
    private readonly IngestBarrier _barrier = new();
    private readonly SemaphoreSlim _checkpointing = new(1, 1);

    // At most one apply per core. A group commit wakes all of its requests at once; their applies then
    // time-slice on the cores, and one preempted while it holds a stripe lock stalls every apply that meets
    // that stripe (the collector's profile: a quarter of its CPU samples in Monitor.Enter_Slowpath, decision
    // 032). Queued applies wait asynchronously, holding no thread.
    private readonly SemaphoreSlim _applying = new(Environment.ProcessorCount, Environment.ProcessorCount);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile bool _recovered;
    private long _checkpointedRecords = -1;

    /// <param name="dataDir">Holds <c>wal/</c> and <c>checkpoints/</c>.</param>
    /// <param name="files">The WAL's file layer; tests pass one that can fill the disk.</param>
    public DurableIngest(OtlpIngest ingest, string dataDir, WalOptions options, TimeProvider time, ILogger logger, IWalFiles? files = null)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems), nameof(options));
        }

        _ingest = ingest;
        _time = time;
        _logger = logger;
        _checkpointInterval = options.CheckpointInterval;
        Checkpoints = new CheckpointFiles(Path.Combine(dataDir, "checkpoints"));
        if (options.Enabled)
        {
            _wal = new WriteAheadLog(Path.Combine(dataDir, "wal"), options, ingest.Store.Options.Retention, time, logger, files);
            _wal.AvailabilityChanged += () => AvailabilityChanged?.Invoke();
        }
    }

    public WindowStore Store => _ingest.Store;

    /// <summary>The write-ahead log; null with the WAL off.</summary>
    public WriteAheadLog? Log => _wal;

    public CheckpointFiles Checkpoints { get; }

    /// <summary>True once the store holds everything acknowledged before this start.</summary>
    public bool Recovered => _recovered;

    /// <summary>What the start-up recovery did; null until it finished (or with the WAL off).</summary>
    public RecoveryStats? Recovery { get; private set; }

    /// <summary>Why requests cannot be made durable right now (the WAL cannot write), or null.</summary>
    public string? Unavailable => _wal?.Unavailable;

    /// <summary>Raised when <see cref="Unavailable"/> may have changed.</summary>
    public event Action? AvailabilityChanged;

    /// <summary>The last checkpoint's cut: how long ingest waited and what copy-on-write cost; null before the first.</summary>
    public CheckpointStats? LastCheckpoint { get; private set; }

    /// <summary>Test seam: handed each checkpoint's cut before it is streamed.</summary>
    internal Action<CheckpointCut>? BeforeStreaming { get; set; }

    public async ValueTask<IngestResult?> WriteAsync(ReadOnlyMemory<byte> request, TenantBinding? binding, IIngestAdmission? admission, CancellationToken cancellationToken)
    {
        if (!_recovered && _wal is not null)
        {
            throw new WalUnavailableException("Vigil is replaying its write-ahead log after a restart");
        }

        // Checked and indexed in one walk; the apply below is fed from the index (decision 031).
        using var prepared = _ingest.Prepare(request, admission?.Counts);

        // Counted per tenant in the check pass; a refused request never reaches the WAL or the store.
        if (admission is not null && !admission.Admit())
        {
            return null;
        }

        // Append and apply inside the barrier: a checkpoint's cut sees both or neither.
        await _barrier.EnterSharedAsync(cancellationToken);
        try
        {
            if (_wal is not null)
            {
                // A tenant binding is logged in front of the request, so replay stamps and refuses the same points.
                await _wal.AppendAsync(binding?.WalPrefix ?? ReadOnlyMemory<byte>.Empty, request, cancellationToken);
            }

            // Not cancellable: the request is logged, so it is applied whatever the caller does now.
            await _applying.WaitAsync(CancellationToken.None);
            try
            {
                return prepared.Apply(binding);
            }
            finally
            {
                _applying.Release();
            }
        }
        finally
        {
            _barrier.ExitShared();
        }
    }

    /// <summary>
    /// Loads the newest checkpoint that validates (unusable ones are moved aside), replays the WAL
    /// written after it, then starts the WAL. Blocking: call it once, before requests are taken.
    /// </summary>
    public RecoveryStats? Recover()
    {
        if (_wal is null)
        {
            _recovered = true;
            return null;
        }

        if (_recovered)
        {
            throw new InvalidOperationException("the recovery has run already");
        }

        var started = _time.GetTimestamp();
        var store = _ingest.Store;
        Checkpoints.DeleteIncomplete();
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

        // Nothing replayed on top of a checkpoint: the store is that checkpoint, no new one is needed yet.
        _checkpointedRecords = checkpoint is not null && records == 0 ? 0 : -1;
        _recovered = true;
        _wal.Start();
        return Recovery;
    }

    /// <summary>
    /// The checkpoint policy: every <see cref="WalOptions.CheckpointInterval"/> a checkpoint, unless
    /// nothing was logged since the last one or the WAL cannot write (it would fail; the WAL keeps
    /// everything). Runs until <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task RunCheckpointsAsync(CancellationToken cancellationToken)
    {
        if (_wal is null)
        {
            return;
        }

        using var timer = new PeriodicTimer(_checkpointInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (_wal.Unavailable is null)
                {
                    await TryCheckpointAsync("periodic", cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// A last checkpoint (so the next start replays almost nothing), unless recovery never finished or
    /// the WAL cannot write; then closes the WAL. Never past <paramref name="cancellationToken"/>.
    /// </summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken)
    {
        if (_wal is null)
        {
            return;
        }

        if (_recovered && _wal.Unavailable is null)
        {
            await TryCheckpointAsync("shutdown", cancellationToken);
        }

        await _wal.DisposeAsync();
    }

    /// <summary>
    /// Takes a checkpoint now. Under the ingest barrier (requests in flight finish, new ones wait) it only
    /// rotates the WAL to segment N and cuts the store; then it streams the store to
    /// <c>checkpoints/checkpoint-N.bin</c> (temporary file, fsync, rename) while ingest goes on, keeps
    /// it and the previous checkpoint P, and deletes older checkpoints and the WAL segments below P.
    /// Returns null when nothing was logged since the last checkpoint (or the WAL is off).
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
            CheckpointCut cut;
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
                cut = _ingest.Store.BeginCheckpoint(segment);
            }
            finally
            {
                _barrier.ExitExclusive();
            }

            var paused = _time.GetElapsedTime(started);
            string path;
            CheckpointInfo info;
            using (cut)
            {
                BeforeStreaming?.Invoke(cut);
                (path, info) = await Task.Run(() => Checkpoints.Write(cut.WalSegment, file => _ingest.Store.WriteCheckpoint(cut, file)), CancellationToken.None);
            }

            _checkpointedRecords = records;
            LastCheckpoint = new CheckpointStats(info, paused, _time.GetElapsedTime(started), cut.PreservedSeries, cut.PeakPreservedBytes);

            // Keep the previous checkpoint and the segments from it on: if the new file rots on disk later,
            // start-up falls back to the previous one and replays from there, losing nothing.
            var previous = Checkpoints.List().Select(c => c.WalSegment).Where(n => n < info.WalSegment).DefaultIfEmpty(info.WalSegment).Max();
            var oldCheckpoints = Checkpoints.DeleteOlderThan(previous);
            var oldSegments = _wal.DeleteSegmentsBelow(previous);
            _logger.LogInformation(
                "Checkpoint {File}: {Series} series of {Metrics} metric(s), {Bytes} bytes streamed; ingest paused {Paused:F1} ms, {Total:F0} ms in all, {Preserved} series preserved for changes meanwhile ({PreservedBytes} bytes at most); deleted {Segments} WAL segment(s) and {Checkpoints} older checkpoint(s)",
                Path.GetFileName(path), info.Series, info.Metrics, info.Bytes, paused.TotalMilliseconds, _time.GetElapsedTime(started).TotalMilliseconds,
                cut.PreservedSeries, cut.PeakPreservedBytes, oldSegments, oldCheckpoints);
            return info;
        }
        finally
        {
            _checkpointing.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_wal is not null)
        {
            await _wal.DisposeAsync();
        }

        _checkpointing.Dispose();
        _applying.Dispose();
    }

    private async Task TryCheckpointAsync(string reason, CancellationToken cancellationToken)
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

    /// <summary>The newest checkpoint that loads; unusable ones are moved aside with a warning.</summary>
    private CheckpointInfo? LoadNewestCheckpoint(WindowStore store)
    {
        var candidates = Checkpoints.List();
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
                var aside = Checkpoints.MoveAside(path, e is CheckpointCorruptException ? ".corrupt" : ".unusable");
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

/// <summary>
/// One checkpoint: <paramref name="Paused"/> is how long ingest was held back (barrier drain, WAL
/// rotation, cut); <paramref name="PreservedSeries"/> and <paramref name="PeakPreservedBytes"/> what
/// copy-on-write kept for series that changed before the writer reached them.
/// </summary>
public sealed record CheckpointStats(CheckpointInfo Info, TimeSpan Paused, TimeSpan Total, long PreservedSeries, long PeakPreservedBytes);
