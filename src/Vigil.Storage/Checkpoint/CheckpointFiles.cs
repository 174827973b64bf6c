using System.Globalization;

namespace Vigil.Storage.Checkpoint;

/// <summary>
/// The checkpoint directory: <c>checkpoint-N.bin</c>, where N is the first WAL segment the checkpoint
/// does not include. A checkpoint is written as <c>.tmp</c>, fsynced and renamed, so a crash leaves
/// either the whole new file or none of it (plus a <c>.tmp</c> that the next start deletes).
/// </summary>
public sealed class CheckpointFiles(string directory)
{
    private const string Prefix = "checkpoint-";
    private const string Extension = ".bin";

    public string Directory { get; } = directory;

    public string PathOf(long walSegment) => System.IO.Path.Combine(Directory, Prefix + walSegment.ToString("D12", CultureInfo.InvariantCulture) + Extension);

    /// <summary>Complete checkpoints, newest (highest WAL segment) first.</summary>
    public IReadOnlyList<(long WalSegment, string Path)> List()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        return System.IO.Directory.EnumerateFiles(Directory, Prefix + "*" + Extension)
            .Select(path => (Ok: long.TryParse(System.IO.Path.GetFileNameWithoutExtension(path).AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n), WalSegment: n, Path: path))
            .Where(c => c.Ok)
            .OrderByDescending(c => c.WalSegment)
            .Select(c => (c.WalSegment, c.Path))
            .ToList();
    }

    /// <summary>
    /// Writes a checkpoint durably: <paramref name="write"/> streams it into a temporary file, which is
    /// fsynced and renamed over the final name. Synchronous file I/O: run it off the request threads.
    /// </summary>
    public (string Path, CheckpointInfo Info) Write(long walSegment, Func<Stream, CheckpointInfo> write)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = PathOf(walSegment);
        var temporary = path + ".tmp";
        CheckpointInfo info;
        try
        {
            using var file = new FileStream(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.None, bufferSize: 1 << 16);
            info = write(file);
            file.Flush(flushToDisk: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        File.Move(temporary, path, overwrite: true);
        return (path, info);
    }

    /// <summary>Deletes the checkpoints older than <paramref name="walSegment"/>; returns how many.</summary>
    public int DeleteOlderThan(long walSegment)
    {
        var deleted = 0;
        foreach (var (segment, path) in List())
        {
            if (segment < walSegment)
            {
                File.Delete(path);
                deleted++;
            }
        }

        return deleted;
    }

    /// <summary>Renames an unusable checkpoint so it is kept for inspection but never loaded again.</summary>
    public string MoveAside(string path, string suffix)
    {
        var aside = path + suffix;
        File.Move(path, aside, overwrite: true);
        return aside;
    }

    /// <summary>Removes <c>.tmp</c> files a crash left behind mid-write.</summary>
    public int DeleteIncomplete()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return 0;
        }

        var deleted = 0;
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, Prefix + "*" + Extension + ".tmp"))
        {
            File.Delete(path);
            deleted++;
        }

        return deleted;
    }
}
