using Microsoft.Win32.SafeHandles;

namespace Vigil.Storage.Wal;

/// <summary>
/// The file layer under the write-ahead log's writer: it opens segment files (and the probe file) for writing. A seam,
/// so a test can make the disk fill up (an <see cref="IOException"/> "No space left on device" from
/// a write, a sync or a close) and heal again, without a tiny filesystem.
/// </summary>
public interface IWalFiles
{
    /// <summary>Opens (creating if needed) a file for writing; for a segment, its current length is where appends go.</summary>
    IWalFile Open(string path);
}

/// <summary>One open segment file. Writes are positional: the writer knows where its last intact record ends.</summary>
public interface IWalFile : IDisposable
{
    long Length { get; }

    void Write(ReadOnlySpan<byte> bytes, long offset);

    /// <summary>Makes every write so far durable (fsync).</summary>
    void FlushToDisk();

    void SetLength(long length);
}

/// <summary>The real files: unbuffered positional I/O on a file handle, so closing one never has data left to flush.</summary>
public sealed class PhysicalWalFiles : IWalFiles
{
    public static PhysicalWalFiles Instance { get; } = new();

    private PhysicalWalFiles()
    {
    }

    public IWalFile Open(string path) =>
        new File(System.IO.File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read));

    private sealed class File(SafeFileHandle handle) : IWalFile
    {
        public long Length => RandomAccess.GetLength(handle);

        public void Write(ReadOnlySpan<byte> bytes, long offset) => RandomAccess.Write(handle, bytes, offset);

        public void FlushToDisk() => RandomAccess.FlushToDisk(handle);

        public void SetLength(long length) => RandomAccess.SetLength(handle, length);

        public void Dispose() => handle.Dispose();
    }
}
