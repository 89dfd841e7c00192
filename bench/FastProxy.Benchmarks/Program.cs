using BenchmarkDotNet.Running;

namespace FastProxy.Benchmarks;

internal static class Program
{
    // dotnet run -c Release --project bench/FastProxy.Benchmarks -- --filter '*'
    private static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
