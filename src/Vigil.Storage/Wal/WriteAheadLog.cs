using System.Buffers.Binary;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Vigil.Storage.Wal;

/// <summary>
/// Append-only log of accepted OTLP requests, so an acknowledged request survives <c>kill -9</c>.
/// Writers hand their bytes to one writer loop, which appends everything queued, fsyncs once and
/// then releases all of them (group commit): a request is acknowledged only after its record is on
/// disk, yet a busy server pays one fsync per batch, not per request.
/// Record: <c>[u32 payload length][u32 CRC-32C of time+payload][i64 unix ms][payload]</c>, little-endian.
/// Segments are files <c>NNNNNNNNNNNN.wal</c>; whole segments older than the retention are deleted, and
/// a checkpoint rotates to a new segment N (<see cref="RotateAsync"/>) and then deletes the segments
/// below it (<see cref="DeleteSegmentsBelow"/>): start-up replays only segments from N on.
/// </summary>
public sealed class WriteAheadLog : IAsyncDisposable
{
    private const int HeaderBytes = 16;
    private const string Extension = ".wal";

    private readonly string _directory;
    private readonly WalOptions _options;
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IWalFiles _fileSystem;
    private readonly Lock _files = new();
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _writer;
    private IWalFile? _segment;
    private long _segmentLength;
    private long _segmentNumber;
    private DateTimeOffset _segmentOpened;
    private long _appendedRecords;
    private long _syncs;

    public WriteAheadLog(string directory, WalOptions options, TimeSpan retention, TimeProvider time, ILogger logger, IWalFiles? files = null)
    {
        _fileSystem = files ?? PhysicalWalFiles.Instance;
        _directory = directory;
        _options = options;
        _retention = retention;
        _time = time;
        _logger = logger;
    }

    public long AppendedRecords => Interlocked.Read(ref _appendedRecords);

    public long Syncs => Interlocked.Read(ref _syncs);

    /// <summary>The newest segment's number (the one appends go to, once one is open).</summary>
    public long CurrentSegmentNumber => Interlocked.Read(ref _segmentNumber);

    public long SizeBytes => Directory.Exists(_directory) ? Segments().Sum(s => new FileInfo(s.Path).Length) : 0;

    /// <summary>
    /// Reads every intact record, oldest first, and hands it to <paramref name="apply"/>. A torn or
    /// corrupt tail (a crash mid-write) is cut off with a warning; the log then appends after it.
    /// Segments below <paramref name="fromSegment"/> are skipped: a checkpoint already holds them.
    /// Returns the number of records replayed and the time of the oldest replayed record.
    /// </summary>
    public (long Records, DateTimeOffset? Since) Replay(Action<ReadOnlySpan<byte>> apply, long fromSegment = 0)
    {
        Directory.CreateDirectory(_directory);
        DeleteExpired();
        long records = 0;
        DateTimeOffset? since = null;

        // New segments are numbered after the checkpoint's even if its segments are gone.
        _segmentNumber = Math.Max(_segmentNumber, fromSegment - 1);
        foreach (var (number, path) in Segments())
        {
            _segmentNumber = Math.Max(_segmentNumber, number);
            if (number < fromSegment)
            {
                continue;
            }

            using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            var header = new byte[HeaderBytes];
            var payload = Array.Empty<byte>();
            long goodEnd = 0;
            string? problem = null;
            while (true)
            {
                var read = file.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false);
                if (read == 0)
                {
                    break;
                }

                if (read < HeaderBytes)
                {
                    problem = $"torn record header at byte {goodEnd}";
                    break;
                }

                var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                var crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
                var unixMs = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8));
                if (length < 0 || length > file.Length - file.Position)
                {
                    problem = $"torn record at byte {goodEnd} (length {length} runs past the end of the file)";
                    break;
                }

                if (payload.Length < length)
                {
                    payload = new byte[Math.Max(length, payload.Length * 2)];
                }

                file.ReadExactly(payload, 0, length);
                if (Checksum(header.AsSpan(8, 8), payload.AsSpan(0, length)) != crc)
                {
                    problem = $"checksum mismatch at byte {goodEnd}";
                    break;
                }

                since ??= DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
                apply(payload.AsSpan(0, length));
                records++;
                goodEnd = file.Position;
            }

            if (problem is not null)
            {
                _logger.LogWarning(
                    "WAL segment {Segment}: {Problem}; dropping the {Bytes} bytes after the last intact record (a crash during a write leaves this; acknowledged requests were all before it)",
                    Path.GetFileName(path), problem, file.Length - goodEnd);
                file.SetLength(goodEnd);
                file.Flush(flushToDisk: true);
            }
        }

        return (records, since);
    }

    /// <summary>Starts the writer loop (after <see cref="Replay"/>).</summary>
    public void Start()
    {
        Directory.CreateDirectory(_directory);
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Appends one request; completes when it is on disk.</summary>
    public Task AppendAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        if (_writer is null)
        {
            throw new InvalidOperationException("the WAL is not started");
        }

        var pending = new Pending(payload, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("the WAL is closed");
        }

        return pending.Done!.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Closes the current segment and opens the next; returns the new segment's number N. Records
    /// appended before this call are in segments below N, records appended after it in N or later.
    /// </summary>
    public Task<long> RotateAsync()
    {
        if (_writer is null)
        {
            throw new InvalidOperationException("the WAL is not started");
        }

        var rotated = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Pending(default, null, rotated)))
        {
            throw new InvalidOperationException("the WAL is closed");
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

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>();
        var header = new byte[HeaderBytes];
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < 4096 && _queue.Reader.TryRead(out var item))
            {
                if (item.Rotated is { } rotated)
                {
                    // What was queued before the rotation belongs to the old segment.
                    await CommitAsync(batch, header);
                    batch.Clear();
                    await RotateSegmentAsync(rotated);
                    continue;
                }

                batch.Add(item);
            }

            await CommitAsync(batch, header);
        }

        await CloseSegmentAsync();
    }

    private async Task RotateSegmentAsync(TaskCompletionSource<long> rotated)
    {
        try
        {
            await CloseSegmentAsync();
            OpenSegment(_time.GetUtcNow());
            rotated.TrySetResult(_segmentNumber);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(e, "WAL rotation failed");
            rotated.TrySetException(new WalUnavailableException($"write-ahead log rotation failed: {e.Message}"));
        }
    }

    private async Task CommitAsync(List<Pending> batch, byte[] header)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            var segment = CurrentSegment();
            var unixMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (var item in batch)
            {
                BinaryPrimitives.WriteInt32LittleEndian(header, item.Payload.Length);
                BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), unixMs);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), Checksum(header.AsSpan(8, 8), item.Payload.Span));
                segment.Write(header, _segmentLength);
                _segmentLength += header.Length;
                segment.Write(item.Payload.Span, _segmentLength);
                _segmentLength += item.Payload.Length;
            }

            segment.FlushToDisk();
            Interlocked.Add(ref _appendedRecords, batch.Count);
            Interlocked.Increment(ref _syncs);
            foreach (var item in batch)
            {
                item.Done!.TrySetResult();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(e, "WAL write failed; {Count} request(s) refused as retryable", batch.Count);
            foreach (var item in batch)
            {
                item.Done!.TrySetException(new WalUnavailableException($"write-ahead log write failed: {e.Message}"));
            }

            await CloseSegmentAsync();
        }
    }

    private IWalFile CurrentSegment()
    {
        var now = _time.GetUtcNow();
        if (_segment is not null && (_segmentLength >= _options.SegmentBytes || now - _segmentOpened >= _options.SegmentDuration))
        {
            _segment.Dispose();
            _segment = null;
            DeleteExpired();
        }

        return _segment ?? OpenSegment(now);
    }

    private IWalFile OpenSegment(DateTimeOffset now)
    {
        var number = _segmentNumber + 1;
        var path = Path.Combine(_directory, number.ToString("D12", CultureInfo.InvariantCulture) + Extension);
        _segment = _fileSystem.OpenSegment(path);
        _segmentLength = _segment.Length;
        Interlocked.Exchange(ref _segmentNumber, number);
        _segmentOpened = now;
        return _segment;
    }

    private Task CloseSegmentAsync()
    {
        if (_segment is not null)
        {
            _segment.Dispose();
            _segment = null;
        }

        return Task.CompletedTask;
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

    private static uint Checksum(ReadOnlySpan<byte> time, ReadOnlySpan<byte> payload) =>
        Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, time), payload));

    /// <summary>Stops taking appends, writes what is queued and closes the segment.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer;
        }
    }

    /// <summary>A record to append (<see cref="Done"/>) or a rotation (<see cref="Rotated"/>).</summary>
    private sealed record Pending(ReadOnlyMemory<byte> Payload, TaskCompletionSource? Done, TaskCompletionSource<long>? Rotated);
}

/// <summary>The WAL could not persist a request: refuse it as retryable (UNAVAILABLE / 503).</summary>
public sealed class WalUnavailableException(string message) : Exception(message);
