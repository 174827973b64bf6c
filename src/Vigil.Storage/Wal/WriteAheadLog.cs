using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Vigil.Storage.Wal;

/// <summary>
/// Append-only log of accepted OTLP requests, so an acknowledged request survives <c>kill -9</c>.
/// Writers hand their bytes to one writer loop, which appends everything queued, fsyncs once and
/// then releases all of them (group commit): a request is acknowledged only after its record is on
/// disk, yet a busy server pays one fsync per batch, not per request. A batch is written as one
/// Zstandard-compressed block (a few small records as they are), so the log costs a fraction of the
/// requests' size (decision 030). The format is in <see cref="WalFormat"/>: every frame carries a header
/// checksum and a payload checksum.
/// Segments are files <c>NNNNNNNNNNNN.wal</c>; whole segments older than the retention are deleted, and
/// a checkpoint rotates to a new segment N (<see cref="RotateAsync"/>) and then deletes the segments
/// below it (<see cref="DeleteSegmentsBelow"/>): start-up replays only segments from N on.
/// <para>When a write fails (a full disk), the batch is refused as retryable, the segment is cut back to
/// its last intact record and closed, and the log turns <see cref="Unavailable"/>: appends are refused at
/// once, without queueing, and every <see cref="WalOptions.RetryInterval"/> the writer probes with a real
/// write and sync of a scratch file; the first that succeeds makes the log available again, and the
/// next batch starts a fresh segment.</para>
/// </summary>
public sealed partial class WriteAheadLog : IAsyncDisposable
{
    private const string Extension = ".wal";
    private const string ProbeFile = "write-probe.tmp";
    private const int MaxBatch = 4096;

    /// <summary>A probe writes this much: room for a batch, not just for one byte.</summary>
    private const int ProbeBytes = 1 << 20;

    private readonly string _directory;
    private readonly WalOptions _options;
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IWalFiles _fileSystem;
    private readonly Lock _files = new();
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

    // Records are staged here and written in large pieces: the segment file itself is unbuffered, so
    // closing it never has data left to flush (and to fail on).
    private readonly byte[] _staging = new byte[1 << 16];
    private readonly WalBlockWriter _block = new();
    private Task? _writer;
    private IWalFile? _segment;
    private long _segmentLength;
    private long _segmentNumber;
    private DateTimeOffset _segmentOpened;
    private long _appendedRecords;
    private long _syncs;
    private long _writeFailures;
    private long _failedProbes;
    private volatile Failure? _failure;
    private CancellationTokenSource? _probe;
    private byte[]? _probeBytes;

    public WriteAheadLog(string directory, WalOptions options, TimeSpan retention, TimeProvider time, ILogger logger, IWalFiles? files = null)
    {
        _fileSystem = files ?? PhysicalWalFiles.Instance;
        _directory = directory;
        _options = options;
        _retention = retention;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised by the writer when the log turns unavailable or available again (read <see cref="Unavailable"/>).</summary>
    public event Action? AvailabilityChanged;

    public long AppendedRecords => Interlocked.Read(ref _appendedRecords);

    public long Syncs => Interlocked.Read(ref _syncs);

    /// <summary>Batches (and rotations) whose write failed; their requests were refused as retryable.</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>Probes that found the log still unable to write.</summary>
    public long FailedProbes => Interlocked.Read(ref _failedProbes);

    /// <summary>Why appends are refused right now (the last write error), or null while the log can write.</summary>
    public string? Unavailable => _failure?.Reason;

    /// <summary>Since when appends have been refused, or null while the log can write.</summary>
    public DateTimeOffset? UnavailableSince => _failure?.Since;

    /// <summary>The newest segment's number (the one appends go to, once one is open).</summary>
    public long CurrentSegmentNumber => Interlocked.Read(ref _segmentNumber);

    public long SizeBytes => Directory.Exists(_directory) ? Segments().Sum(s => new FileInfo(s.Path).Length) : 0;

    /// <summary>Starts the writer loop (after <see cref="Replay"/>).</summary>
    public void Start()
    {
        Directory.CreateDirectory(_directory);
        TryDelete(Path.Combine(_directory, ProbeFile));
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>
    /// Appends one request; completes when it is on disk. Fails with <see cref="WalUnavailableException"/>
    /// (retryable) when it could not be written, at once while the log is <see cref="Unavailable"/>.
    /// </summary>
    public Task AppendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        AppendAsync(ReadOnlyMemory<byte>.Empty, payload, cancellationToken);

    /// <summary>
    /// Appends one record of <paramref name="prefix"/> then <paramref name="payload"/> (e.g. a tenant
    /// binding before the request), without copying them together; replay hands back both as one payload.
    /// </summary>
    public Task AppendAsync(ReadOnlyMemory<byte> prefix, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        if (_writer is null)
        {
            throw new InvalidOperationException("the WAL is not started");
        }

        if (_failure is { } failure)
        {
            return Task.FromException(new WalUnavailableException(failure.Reason));
        }

        var pending = new Pending(prefix, payload, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
        if (!_queue.Writer.TryWrite(pending))
        {
            return Task.FromException(new WalUnavailableException("the write-ahead log is shut down"));
        }

        return pending.Done!.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Closes the current segment and opens the next; returns the new segment's number N. Records
    /// appended before this call are in segments below N, records appended after it in N or later.
    /// Fails with <see cref="WalUnavailableException"/> while the log cannot write.
    /// </summary>
    public Task<long> RotateAsync()
    {
        if (_writer is null)
        {
            throw new InvalidOperationException("the WAL is not started");
        }

        if (_failure is { } failure)
        {
            return Task.FromException<long>(new WalUnavailableException(failure.Reason));
        }

        var rotated = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Pending(default, default, null, rotated)))
        {
            return Task.FromException<long>(new WalUnavailableException("the write-ahead log is shut down"));
        }

        return rotated.Task;
    }

    /// <summary>Deletes the segments numbered below <paramref name="number"/> (a checkpoint holds their records); returns how many.</summary>
    public int DeleteSegmentsBelow(long number)
    {
        lock (_files)
        {
            var deleted = 0;
            foreach (var (segment, path) in Segments())
            {
                if (segment >= number || segment >= Interlocked.Read(ref _segmentNumber))
                {
                    break;
                }

                File.Delete(path);
                deleted++;
            }

            return deleted;
        }
    }

    /// <summary>
    /// The writer. Nothing in it throws out of the loop: a failed write turns the log unavailable
    /// and the loop goes on refusing and probing, so appends never wait for a writer that is gone.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>();
        var reader = _queue.Reader;
        while (true)
        {
            if (_probe is { } probe)
            {
                // Unavailable: refuse what was queued before the failure was seen, probe when the interval is up.
                try
                {
                    if (!await reader.WaitToReadAsync(probe.Token))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException) when (probe.IsCancellationRequested)
                {
                    Probe();
                    continue;
                }

                RefuseQueued();
                continue;
            }

            if (!await reader.WaitToReadAsync())
            {
                break;
            }

            batch.Clear();
            while (batch.Count < MaxBatch && _failure is null && reader.TryRead(out var item))
            {
                if (item.Rotated is { } rotated)
                {
                    // What was queued before the rotation belongs to the old segment.
                    Commit(batch);
                    batch.Clear();
                    Rotate(rotated);
                    continue;
                }

                batch.Add(item);
            }

            Commit(batch);
        }

        CloseSegment();
        _block.Dispose();
        _probe?.Dispose();
        _probe = null;
    }

    private void Rotate(TaskCompletionSource<long> rotated)
    {
        if (_failure is { } failure)
        {
            rotated.TrySetException(new WalUnavailableException(failure.Reason));
            return;
        }

        try
        {
            CloseSegment();
            OpenSegment(_time.GetUtcNow());
            rotated.TrySetResult(_segmentNumber);
        }
        catch (Exception e)
        {
            Fail(e, probing: false);
            rotated.TrySetException(new WalUnavailableException($"write-ahead log rotation failed: {e.Message}"));
        }
    }

    private void Commit(List<Pending> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        if (_failure is { } failure)
        {
            Refuse(batch, failure.Reason);
            return;
        }

        long offset;
        try
        {
            var segment = CurrentSegment();
            offset = _segmentLength;
            if (offset == 0)
            {
                WalFormat.WriteSegmentHeader(_staging);
                segment.Write(_staging.AsSpan(0, WalFormat.SegmentHeaderBytes), 0);
                offset = WalFormat.SegmentHeaderBytes;
            }

            var unixMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var first = 0;
            for (var i = 0; i < batch.Count; i++)
            {
                var item = batch[i];
                if (i > first && _block.RawLength + item.Prefix.Length + item.Payload.Length > WalBlockWriter.TargetBytes)
                {
                    offset = WriteFrames(segment, batch, first, i, offset, unixMs);
                    first = i;
                }

                _block.Add(item.Prefix.Span, item.Payload.Span);
            }

            offset = WriteFrames(segment, batch, first, batch.Count, offset, unixMs);
            segment.FlushToDisk();
        }
        catch (Exception e)
        {
            _block.Clear();
            Fail(e, probing: false);
            Refuse(batch, _failure!.Reason);
            return;
        }

        _segmentLength = offset;
        Interlocked.Add(ref _appendedRecords, batch.Count);
        Interlocked.Increment(ref _syncs);
        foreach (var item in batch)
        {
            item.Done!.TrySetResult();
        }
    }

    /// <summary>
    /// Writes batch[from..to) (already added to the block) as one compressed block frame, or, when that
    /// would not be smaller (a few small records), as one record frame each. Returns the offset after them.
    /// </summary>
    private long WriteFrames(IWalFile segment, List<Pending> batch, int from, int to, long offset, long unixMs)
    {
        try
        {
            if (_block.RawLength >= WalBlockWriter.MinBytes && _block.TrySeal(unixMs, out var frame))
            {
                segment.Write(frame, offset);
                return offset + frame.Length;
            }

            return WriteRecords(segment, batch, from, to, offset, unixMs);
        }
        finally
        {
            _block.Clear();
        }
    }

    private long WriteRecords(IWalFile segment, List<Pending> batch, int from, int to, long offset, long unixMs)
    {
        var staged = 0;
        for (var i = from; i < to; i++)
        {
            var item = batch[i];
            if (_staging.Length - staged < WalFormat.RecordHeaderBytes)
            {
                segment.Write(_staging.AsSpan(0, staged), offset);
                offset += staged;
                staged = 0;
            }

            WalFormat.WriteRecordHeader(_staging.AsSpan(staged, WalFormat.RecordHeaderBytes), item.Prefix.Span, item.Payload.Span, unixMs);
            staged += WalFormat.RecordHeaderBytes;
            foreach (var part in (ReadOnlyMemory<byte>[])[item.Prefix, item.Payload])
            {
                var bytes = part.Span;
                if (bytes.Length <= _staging.Length - staged)
                {
                    bytes.CopyTo(_staging.AsSpan(staged));
                    staged += bytes.Length;
                    continue;
                }

                segment.Write(_staging.AsSpan(0, staged), offset);
                offset += staged;
                staged = 0;
                segment.Write(bytes, offset);
                offset += bytes.Length;
            }
        }

        if (staged > 0)
        {
            segment.Write(_staging.AsSpan(0, staged), offset);
            offset += staged;
        }

        return offset;
    }

    /// <summary>
    /// A write failed: the segment loses what the failed write left after its last intact record and is
    /// closed (when even the cut fails, replay skips the partial record by its checksums), and the log
    /// turns unavailable. The probe is armed before anyone is refused, so a test that sees a refusal can
    /// move its clock past the probe.
    /// </summary>
    private void Fail(Exception error, bool probing)
    {
        if (_segment is not null)
        {
            try
            {
                _segment.SetLength(_segmentLength);
            }
            catch (Exception e)
            {
                _logger.LogWarning("WAL segment {Segment}: could not cut the failed write back to offset {Offset} ({Problem}); replay will skip what it left", CurrentSegmentName(), _segmentLength, e.Message);
            }

            // A fresh segment after the failure: whatever the failed write did to this one stays behind it.
            CloseSegment();
        }

        var previous = _failure;
        _failure = new Failure($"the write-ahead log cannot write to disk ({WithoutPath(error)})", previous?.Since ?? _time.GetUtcNow());
        _probe?.Dispose();
        _probe = new CancellationTokenSource(_options.RetryInterval, _time);
        Interlocked.Increment(ref probing ? ref _failedProbes : ref _writeFailures);
        if (previous is null)
        {
            _logger.LogError(error, "WAL write failed; refusing OTLP requests as retryable (UNAVAILABLE / 503) and probing every {Interval}s until a write succeeds", _options.RetryInterval.TotalSeconds);
            RaiseAvailabilityChanged();
        }
    }

    /// <summary>
    /// The error without the file path .NET appends ("No space left on device : '/data/wal/…'"): the reason
    /// goes to OTLP clients and /readyz, the path only to the log.
    /// </summary>
    private static string WithoutPath(Exception error)
    {
        var message = error.Message;
        var path = message.IndexOf(" : '", StringComparison.Ordinal);
        return path > 0 ? message[..path] : message;
    }

    /// <summary>Can the log write now? A real write and sync of a scratch file beside the segments, then deleted.</summary>
    private void Probe()
    {
        var path = Path.Combine(_directory, ProbeFile);
        try
        {
            _probeBytes ??= new byte[ProbeBytes];
            using (var probe = _fileSystem.Open(path))
            {
                probe.Write(_probeBytes, 0);
                probe.FlushToDisk();
            }

            File.Delete(path);
        }
        catch (Exception e)
        {
            TryDelete(path);
            Fail(e, probing: true);
            return;
        }

        var since = _failure?.Since ?? _time.GetUtcNow();
        _failure = null;
        _probe?.Dispose();
        _probe = null;
        _logger.LogInformation("The write-ahead log can write again after {Seconds:F0}s; OTLP requests are accepted again", (_time.GetUtcNow() - since).TotalSeconds);
        RaiseAvailabilityChanged();
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogDebug("Could not delete {Path}: {Problem}", path, e.Message);
        }
    }

    private void RefuseQueued()
    {
        var reason = _failure?.Reason ?? "the write-ahead log cannot write to disk";
        while (_queue.Reader.TryRead(out var item))
        {
            item.Done?.TrySetException(new WalUnavailableException(reason));
            item.Rotated?.TrySetException(new WalUnavailableException(reason));
        }
    }

    private static void Refuse(List<Pending> batch, string reason)
    {
        foreach (var item in batch)
        {
            item.Done!.TrySetException(new WalUnavailableException(reason));
        }
    }

    private void RaiseAvailabilityChanged()
    {
        try
        {
            AvailabilityChanged?.Invoke();
        }
        catch (Exception e)
        {
            _logger.LogError(e, "A WAL availability handler failed");
        }
    }

    private IWalFile CurrentSegment()
    {
        var now = _time.GetUtcNow();
        if (_segment is not null && (_segmentLength >= _options.SegmentBytes || now - _segmentOpened >= _options.SegmentDuration))
        {
            CloseSegment();
            TryDeleteExpired();
        }

        return _segment ?? OpenSegment(now);
    }

    private IWalFile OpenSegment(DateTimeOffset now)
    {
        var number = _segmentNumber + 1;
        var path = Path.Combine(_directory, number.ToString("D12", CultureInfo.InvariantCulture) + Extension);
        var segment = _fileSystem.Open(path);
        try
        {
            _segmentLength = segment.Length;
        }
        catch
        {
            segment.Dispose();
            throw;
        }

        _segment = segment;
        Interlocked.Exchange(ref _segmentNumber, number);
        _segmentOpened = now;
        return segment;
    }

    /// <summary>Closes the segment; every record in it is already synced, so a failing close loses nothing.</summary>
    private void CloseSegment()
    {
        var segment = _segment;
        _segment = null;
        try
        {
            segment?.Dispose();
        }
        catch (Exception e)
        {
            _logger.LogWarning("WAL segment {Segment}: closing it failed ({Problem}); its records were synced before", CurrentSegmentName(), e.Message);
        }
    }

    private string CurrentSegmentName() => Interlocked.Read(ref _segmentNumber).ToString("D12", CultureInfo.InvariantCulture) + Extension;

    private void TryDeleteExpired()
    {
        try
        {
            DeleteExpired();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Deleting expired WAL segments failed ({Problem}); trying again at the next segment", e.Message);
        }
    }

    /// <summary>Deletes closed segments whose newest data is past the retention: the store would drop it anyway.</summary>
    private void DeleteExpired()
    {
        using var scope = _files.EnterScope();
        var cutoff = _time.GetUtcNow() - _retention;
        var segments = Segments().ToList();
        for (var i = 0; i < segments.Count - 1; i++)
        {
            // A segment's data is no newer than the next segment's creation.
            var next = File.GetCreationTimeUtc(segments[i + 1].Path);
            var lastWrite = File.GetLastWriteTimeUtc(segments[i].Path);
            if (new DateTimeOffset(lastWrite < next ? lastWrite : next, TimeSpan.Zero) < cutoff)
            {
                File.Delete(segments[i].Path);
            }
        }
    }

    private IEnumerable<(long Number, string Path)> Segments() =>
        Directory.EnumerateFiles(_directory, "*" + Extension)
            .Select(path => (Number: long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1, Path: path))
            .Where(s => s.Number >= 0)
            .OrderBy(s => s.Number);

    /// <summary>Stops taking appends, writes what is queued (or refuses it, while unavailable) and closes the segment. Never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer;
        }
    }

    /// <summary>A record to append (<see cref="Done"/>) or a rotation (<see cref="Rotated"/>).</summary>
    private sealed record Pending(ReadOnlyMemory<byte> Prefix, ReadOnlyMemory<byte> Payload, TaskCompletionSource? Done, TaskCompletionSource<long>? Rotated);

    /// <summary>Why the log cannot write, since when.</summary>
    private sealed record Failure(string Reason, DateTimeOffset Since);
}

/// <summary>The WAL could not persist a request: refuse it as retryable (UNAVAILABLE / 503).</summary>
public sealed class WalUnavailableException(string message) : Exception(message);
